/* Plugin catalogs: name lookup. */
#include "config/schema.h"

#include <string.h>

int rg_plugin_catalog_find(const struct rg_plugin_catalog *cat,
                           const char *name, size_t len)
{
    for (size_t i = 0; cat != NULL && i < cat->n; i++) {
        const char *s = cat->schema[i]->name;

        if (strlen(s) == len && memcmp(s, name, len) == 0)
            return (int)i;
    }
    return -1;
}
