#!/bin/sh
# test_plugin_tutorial.sh: follow man/jianmo-plugin.7's TUTORIAL literally.
#
# Every example block (.EX ... .EE) after a '.\" file: PATH' line is written
# to PATH, every block after a '.\" run' line is run with sh -e, in order,
# in an empty directory that is also HOME (so ~/.local/share/jianmo/plugins
# is the user's plugin directory there).  The installed paths the page shows
# come from the build tree instead: jianmo is first on PATH, and
# pkg-config finds jianmo-plugin-uninstalled.pc (the in-tree header) through
# PKG_CONFIG_PATH.  Then the flow must have trained: a run marked done.
# Exit 77 (skipped) without Fashion-MNIST, as the Criterion tests skip.
set -eu
srcdir=${JIANMO_SRCDIR:-.}
bin=${JIANMO_BIN:-$(pwd)/jianmo}
builddir=$(cd "$(dirname "$bin")" && pwd)
page=$srcdir/man/jianmo-plugin.7

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	echo "SKIPPED: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jianmo-tutorial-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tutorial as one shell session: a file block becomes a here-document
# written where the session stands, a run block its commands, with roff's
# escapes undone (\- \e \& \(aq \(dq).
session=$work/.session.sh
awk '
	/^\.\\" file: / { kind = "file"; path = substr($0, 11); next }
	/^\.\\" run$/ { kind = "run"; next }
	/^\.EX$/ && kind != "" {
		n++
		if (kind == "file")
			printf "echo \"(tutorial: writing %s)\"\ncat > \"%s\" <<\"JIANMO_TUTORIAL_EOF\"\n", path, path
		block = kind; inblock = 1; next
	}
	/^\.EE$/ && inblock {
		if (block == "file") print "JIANMO_TUTORIAL_EOF"
		inblock = 0; kind = ""; next
	}
	inblock {
		line = $0
		gsub(/\\-/, "-", line); gsub(/\\\(aq/, "'"'"'", line)
		gsub(/\\\(dq/, "\"", line); gsub(/\\&/, "", line)
		gsub(/\\e/, "\\", line)
		if (block == "run") print "echo \"$ " line "\" | sed \"s/^/(tutorial) /\""
		print line
	}
	END { if (n < 5) exit 1 }
' "$page" > "$session" || { echo "FAIL: found fewer than 5 tutorial blocks in $page"; exit 1; }

export HOME="$work"
unset XDG_DATA_HOME JIANMO_PLUGIN_PATH JIANMO_HOME 2>/dev/null || true
export PATH="$builddir:$PATH"
export PKG_CONFIG_PATH="$builddir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cd "$work"
if ! sh -e "$session"; then
	echo "FAIL: the tutorial stopped (session: see above)"
	exit 1
fi

# the flow trained, from the plugin installed in the user's directory
runs=$(cd "$work/leaky" && jianmo runs)
echo "$runs"
echo "$runs" | grep -q done || { echo "FAIL: no run marked done"; exit 1; }
jianmo plugins | grep -q "$work/.local/share/jianmo/plugins/leaky.so" ||
	{ echo "FAIL: leaky.so not loaded from the user's directory"; exit 1; }

# The example plugins build out of tree with their own Makefiles the same
# way (pkg-config; the CUDA kernels left out: NVCC empty) and load.
for ex in swish rolling_zscore; do
	cp -r "$srcdir/plugins/examples/$ex" "$work/ex-$ex"
	make -s -C "$work/ex-$ex" NVCC= >/dev/null ||
		{ echo "FAIL: make in plugins/examples/$ex"; exit 1; }
done
listing=$(JIANMO_PLUGIN_PATH="$work/ex-swish:$work/ex-rolling_zscore" jianmo plugins)
for op in "layer   plugin:swish(beta=1" "feature rolling_zscore(window=7"; do
	echo "$listing" | grep -qF "$op" || { echo "FAIL: no \"$op\" in:"; echo "$listing"; exit 1; }
done
echo "PASS: the tutorial builds, installs and trains; the examples build with make"
