/*
 * rolling_zscore.c: an example jianmo feature plugin.  For each listed
 * column x it adds x_rzscore, how far x lies from the mean of the `window`
 * values before it, in units of the training column's standard deviation:
 *
 *   x_rzscore[t] = (x[t] - mean(x[t-window .. t-1])) / std_train(x)
 *
 * Rows run in file order; a row with no earlier value uses the training
 * mean; missing values (NaN) are skipped in windows and give NaN.  fit
 * learns each column's training mean and std (ddof 0; 1 for a constant
 * column) and keeps them in the state blob, so validation, test and
 * replays use the training numbers.  In a flow:
 *
 *   [features]
 *   plugin = rolling_zscore(window=7): body_mass_g, flipper_length_mm
 *
 * Build: cc -O2 -fPIC -shared $(pkg-config --cflags jianmo-plugin) \
 *        -o rolling_zscore.so rolling_zscore.c -lm
 */
#include <jianmo/plugin.h>
#include <math.h>
#include <string.h>

static const jm_plugin_api *host_api;

static const jm_plugin_arg args[] = {
	{JM_PLUGIN_HEADER(jm_plugin_arg), .name = "window", .def = 7, .min = 1, .max = 100000,
	 .integer = 1, .help = "how many earlier rows the rolling mean covers"},
};

static const char *const suffixes[] = {"rzscore", NULL};

/* state: for each input column, its training mean and std (doubles) */
static const char *fit(const jm_plugin_columns *c, void **state, size_t *size)
{
	double *st = host_api->alloc((size_t)c->n_in * 2 * sizeof *st);
	if (!st)
		return "out of memory";
	for (int k = 0; k < c->n_in; k++) {
		double sum = 0, sq = 0;
		int64_t n = 0;
		for (int64_t i = 0; i < c->rows; i++)
			if (!isnan(c->in[k][i])) {
				sum += c->in[k][i];
				n++;
			}
		double mean = n ? sum / (double)n : 0;
		for (int64_t i = 0; i < c->rows; i++)
			if (!isnan(c->in[k][i]))
				sq += (c->in[k][i] - mean) * (c->in[k][i] - mean);
		double sd = n ? sqrt(sq / (double)n) : 0;
		st[2 * k] = mean;
		st[2 * k + 1] = sd > 0 ? sd : 1;
	}
	*state = st;
	*size = (size_t)c->n_in * 2 * sizeof *st;
	return NULL;
}

static const char *apply(const jm_plugin_columns *c)
{
	if (c->state_size != (size_t)c->n_in * 2 * sizeof(double))
		return "the fitted state does not match the columns (refit)";
	double st[2];
	int w = (int)c->args[0];
	for (int k = 0; k < c->n_in; k++) {
		memcpy(st, (const char *)c->state + (size_t)k * sizeof st, sizeof st);
		const double *x = c->in[k];
		double *z = c->out[k];
		double sum = 0;
		int n = 0;
		for (int64_t i = 0; i < c->rows; i++) {
			double mean = n ? sum / n : st[0];
			z[i] = isnan(x[i]) ? NAN : (x[i] - mean) / st[1];
			/* slide: x[i] joins, x[i - w] leaves */
			if (!isnan(x[i]))
				sum += x[i], n++;
			if (i >= w && !isnan(x[i - w]))
				sum -= x[i - w], n--;
		}
	}
	return NULL;
}

static const jm_plugin_feature rolling_zscore = {
	JM_PLUGIN_HEADER(jm_plugin_feature),
	.name = "rolling_zscore",
	.help = "(x - mean of the previous window rows) / training std",
	.n_args = 1,
	.args = args,
	.suffixes = suffixes,
	.fit = fit,
	.apply = apply,
};

JM_PLUGIN_EXPORT const char *jm_plugin_init(const jm_plugin_api *api, jm_plugin_host *host)
{
	static const jm_plugin_info info = {
		JM_PLUGIN_HEADER(jm_plugin_info),
		.name = "rolling_zscore",
		.version = "1.0.0",
		.description = "rolling z-scores of columns, scaled by the training std",
	};
	if (api->abi_version != JM_PLUGIN_ABI_VERSION)
		return "built for another jianmo plugin ABI";
	host_api = api;
	if (api->plugin(host, &info) < 0 || api->feature(host, &rolling_zscore) < 0)
		return api->error(host);
	return NULL;
}
