/* libFuzzer target for the declarative config parser: any bytes must give
 * either a gateway whose invariants hold or an error message, never a
 * crash, a leak or undefined behaviour. A second pass over the same input
 * fails one allocation to exercise the cleanup paths. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/gateway.h"
#include "core/alloc.h"
#include "plugins/registry.h"

#define INPUT_MAX 65536 /* bytes; bigger inputs only slow the search */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_route(const struct rg_gateway *gw, const struct rg_route *r)
{
    if (r->service >= gw->n_services)
        abort();
    if (r->n_paths == 0 && r->n_hosts == 0 && r->methods == 0)
        abort();
    for (size_t i = 0; i < r->n_paths; i++) {
        if (r->paths[i].path == NULL || r->paths[i].path[0] != '/')
            abort();
    }
    for (size_t i = 0; i < r->n_hosts; i++) {
        if (r->hosts[i] == NULL || r->hosts[i][0] == '\0')
            abort();
    }
}

static void check(const struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_services; i++) {
        if (gw->services[i].host == NULL)
            abort();
    }
    for (size_t i = 0; i < gw->n_routes; i++)
        check_route(gw, &gw->routes[i]);
}

/* A failed parse leaves a message and a zeroed gateway. */
static void check_failed(const struct rg_gateway *gw,
                         const struct rg_errbuf *eb)
{
    if (eb->msg[0] == '\0' || gw->services != NULL || gw->routes != NULL ||
        gw->n_services != 0 || gw->n_routes != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;
    int rv;

    if (size > INPUT_MAX)
        return 0;
    rv = rg_gateway_parse(&gw, (const char *)data, size, rg_plugins_catalog(), &eb);
    if (rv != 0) {
        check_failed(&gw, &eb);
        return 0;
    }
    check(&gw);
    rg_gateway_release(&gw);

    rg_alloc_fail_after(1 + (long)(size % 97));
    rv = rg_gateway_parse(&gw, (const char *)data, size, rg_plugins_catalog(), &eb);
    rg_alloc_fail_after(0);
    if (rv == 0)
        rg_gateway_release(&gw);
    else if (rv != -ENOMEM)
        abort();
    else
        check_failed(&gw, &eb);
    return 0;
}
