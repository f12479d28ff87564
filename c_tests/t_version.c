/* t_version.c — the version has one source, Cargo.toml: the header's
 * RIPC_VERSION_* macros, ripc_version() and ripc_version_number() of the
 * library this test runs on, and Cargo.toml's `version` (read from the
 * checkout: the suite runs from its top directory) all agree. */
#include <ripc.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Cargo.toml's [package] version, or "" when it cannot be read. */
static void cargo_version(char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen("Cargo.toml", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char v[64];
        if (sscanf(line, "version = \"%63[^\"]\"", v) == 1) {
            snprintf(out, n, "%s", v);
            break;
        }
    }
    fclose(f);
}

int main(void) {
    const char *v = ripc_version();
    ok(v != NULL, "ripc_version() is not NULL");
    if (!v) v = "";
    ok(strcmp(v, RIPC_VERSION_STRING) == 0, "ripc_version() \"%s\" == RIPC_VERSION_STRING \"%s\"", v,
       RIPC_VERSION_STRING);
    ok(strncmp(RIPC_VERSION_STRING,
               STR(RIPC_VERSION_MAJOR) "." STR(RIPC_VERSION_MINOR) "." STR(RIPC_VERSION_PATCH),
               strlen(STR(RIPC_VERSION_MAJOR) "." STR(RIPC_VERSION_MINOR) "." STR(RIPC_VERSION_PATCH))) == 0,
       "RIPC_VERSION_STRING starts with MAJOR.MINOR.PATCH (%d.%d.%d)", RIPC_VERSION_MAJOR, RIPC_VERSION_MINOR,
       RIPC_VERSION_PATCH);
    int num = RIPC_VERSION_MAJOR * 10000 + RIPC_VERSION_MINOR * 100 + RIPC_VERSION_PATCH;
    ok(RIPC_VERSION_NUMBER == num, "RIPC_VERSION_NUMBER %d == MAJOR*10000+MINOR*100+PATCH", RIPC_VERSION_NUMBER);
    ok(ripc_version_number() == RIPC_VERSION_NUMBER, "ripc_version_number() %d == RIPC_VERSION_NUMBER",
       ripc_version_number());
    char cargo[64];
    cargo_version(cargo, sizeof cargo);
    ok(cargo[0] != 0, "Cargo.toml's version is readable (\"%s\")", cargo);
    ok(strcmp(cargo, RIPC_VERSION_STRING) == 0, "RIPC_VERSION_STRING == Cargo.toml's version");
    ok(strcmp(cargo, v) == 0, "ripc_version() == Cargo.toml's version");
    return done_testing();
}
