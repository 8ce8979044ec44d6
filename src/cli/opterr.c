/* What is wrong with an option getopt_long refused, when the optstring
 * starts with ':' (getopt then prints nothing and tells the cases apart). */
#include <getopt.h>
#include <string.h>

#include "cli.h"

int pn_cli_option_error(const char *cmd, int ch, char *const *argv, const struct option *opts)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    int typed_long = arg && !strncmp(arg, "--", 2);
    const char *name = NULL; /* the long name of the option optopt stands for */
    if (optopt)
        for (const struct option *o = opts; o && o->name; o++)
            if (!o->flag && o->val == optopt) {
                name = o->name;
                break;
            }
    if (ch == ':') { /* a value is missing */
        if (name && typed_long) return pn_cli_usage_error(cmd, "--%s needs a value", name);
        if (name) return pn_cli_usage_error(cmd, "-%c (--%s) needs a value", optopt, name);
        return pn_cli_usage_error(cmd, "-%c needs a value", optopt);
    }
    if (typed_long && optopt && name) /* --flag=value for an option without a value */
        return pn_cli_usage_error(cmd, "--%s takes no value ('%s')", name, arg);
    if (typed_long || !optopt) return pn_cli_usage_error(cmd, "unrecognized option '%s'", arg);
    return pn_cli_usage_error(cmd, "invalid option '-%c'", optopt);
}
