# bench/json_field.sh: sourced by the benchmark scripts (needs $py set).
# field NAME < json-lines: the last value of NAME in the JSON lines on stdin.
field() {
	$py -c 'import json,sys
v=None
for l in sys.stdin:
    l=l.strip()
    if l.startswith("{"):
        d=json.loads(l)
        if sys.argv[1] in d: v=d[sys.argv[1]]
print(v)' "$1"
}
