/*
 * nft is the nftables command line of kube-proxy's image: Debian's nft without its interactive
 * mode. It parses nft's options and hands the commands to libnftables, which does all the work,
 * as Debian's nft does.
 *
 * Debian's nft links libedit for `nft -i`, which pulls in libtinfo, libbsd and libmd: 585 KB,
 * 0.19 MiB compressed, for a prompt nobody uses in a container. kube-proxy (through knftables)
 * runs `nft --version`, `nft [--check] -f -` and `nft --json [--terse] list ...`. This program
 * loads libnftables.so.1 with dlopen, so it links against libc alone, like ckubelet's other
 * programs, and the image keeps Debian's library.
 *
 * Not supported: -i/--interactive and -d/--debug (the library's debug output needs a build
 * with debugging); both exit 1 saying so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library's soname. Tests build with a fixture library instead. */
#ifndef LIBNFTABLES
#define LIBNFTABLES "libnftables.so.1"
#endif

/* The nftables release the image's libnftables comes from (ckubelet passes it from the Debian
 * package); `nft --version` reports it, and knftables refuses releases before 1.0.1. */
#ifndef NFTABLES_VERSION
#error NFTABLES_VERSION must name the libnftables release, e.g. -DNFTABLES_VERSION='"1.1.3"'
#endif

/* Output flags, as libnftables.h (nftables 1.0 and later) defines them. */
enum {
	OUTPUT_REVERSEDNS = 1 << 0,
	OUTPUT_SERVICE = 1 << 1,
	OUTPUT_STATELESS = 1 << 2,
	OUTPUT_HANDLE = 1 << 3,
	OUTPUT_JSON = 1 << 4,
	OUTPUT_ECHO = 1 << 5,
	OUTPUT_GUID = 1 << 6,
	OUTPUT_NUMERIC_PROTO = 1 << 7,
	OUTPUT_NUMERIC_PRIO = 1 << 8,
	OUTPUT_NUMERIC_SYMBOL = 1 << 9,
	OUTPUT_NUMERIC_TIME = 1 << 10,
	OUTPUT_NUMERIC_ALL = OUTPUT_NUMERIC_PROTO | OUTPUT_NUMERIC_PRIO | OUTPUT_NUMERIC_SYMBOL | OUTPUT_NUMERIC_TIME,
	OUTPUT_TERSE = 1 << 11,
};
#define OPTIMIZE_ENABLED 0x1

struct nft_ctx;

/* The part of libnftables' API this program calls, resolved by load_library. */
static struct {
	struct nft_ctx *(*ctx_new)(uint32_t flags);
	void (*ctx_free)(struct nft_ctx *ctx);
	unsigned int (*output_get_flags)(struct nft_ctx *ctx);
	void (*output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
	void (*set_dry_run)(struct nft_ctx *ctx, bool dry);
	void (*set_optimize)(struct nft_ctx *ctx, uint32_t flags);
	int (*add_include_path)(struct nft_ctx *ctx, const char *path);
	int (*add_var)(struct nft_ctx *ctx, const char *var);
	int (*run_cmd_from_buffer)(struct nft_ctx *nft, const char *buf);
	int (*run_cmd_from_filename)(struct nft_ctx *nft, const char *filename);
} lib;

static void *symbol(void *handle, const char *name)
{
	void *sym = dlsym(handle, name);
	if (!sym) {
		fprintf(stderr, "nft: %s has no %s: %s\n", LIBNFTABLES, name, dlerror());
		exit(1);
	}
	return sym;
}

static void load_library(void)
{
	void *h = dlopen(LIBNFTABLES, RTLD_NOW);
	if (!h) {
		fprintf(stderr, "nft: loading %s: %s\n", LIBNFTABLES, dlerror());
		exit(1);
	}
	lib.ctx_new = symbol(h, "nft_ctx_new");
	lib.ctx_free = symbol(h, "nft_ctx_free");
	lib.output_get_flags = symbol(h, "nft_ctx_output_get_flags");
	lib.output_set_flags = symbol(h, "nft_ctx_output_set_flags");
	lib.set_dry_run = symbol(h, "nft_ctx_set_dry_run");
	lib.set_optimize = symbol(h, "nft_ctx_set_optimize");
	lib.add_include_path = symbol(h, "nft_ctx_add_include_path");
	lib.add_var = symbol(h, "nft_ctx_add_var");
	lib.run_cmd_from_buffer = symbol(h, "nft_run_cmd_from_buffer");
	lib.run_cmd_from_filename = symbol(h, "nft_run_cmd_from_filename");
}

static const struct option options[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'v'},
	{"version-long", no_argument, NULL, 'V'},
	{"check", no_argument, NULL, 'c'},
	{"file", required_argument, NULL, 'f'},
	{"define", required_argument, NULL, 'D'},
	{"optimize", no_argument, NULL, 'o'},
	{"includepath", required_argument, NULL, 'I'},
	{"reversedns", no_argument, NULL, 'N'},
	{"stateless", no_argument, NULL, 's'},
	{"service", no_argument, NULL, 'S'},
	{"handle", no_argument, NULL, 'a'},
	{"echo", no_argument, NULL, 'e'},
	{"json", no_argument, NULL, 'j'},
	{"guid", no_argument, NULL, 'u'},
	{"numeric", no_argument, NULL, 'n'},
	{"numeric-protocol", no_argument, NULL, 'p'},
	{"numeric-priority", no_argument, NULL, 'y'},
	{"numeric-time", no_argument, NULL, 'T'},
	{"terse", no_argument, NULL, 't'},
	{"interactive", no_argument, NULL, 'i'},
	{"debug", required_argument, NULL, 'd'},
	{0},
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nft [ options ] [ cmds... ]\n"
		"Runs nftables commands, or a file of them with -f (- for standard input).\n"
		"Options: -c/--check -f/--file FILE -D/--define NAME=VALUE -I/--includepath DIR -o/--optimize\n"
		"  -j/--json -t/--terse -a/--handle -e/--echo -s/--stateless -n/--numeric -p -y -T -N -S -u\n"
		"  -v/--version -h/--help\n"
		"This is ckubelet's nft over libnftables: no interactive mode (-i) and no debug output (-d).\n");
}

/* join returns argv's words separated by spaces, as nft runs commands given as arguments. */
static char *join(int argc, char **argv)
{
	size_t n = 1;
	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *buf = calloc(1, n);
	if (!buf) {
		perror("nft");
		exit(1);
	}
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, argv[i]);
	}
	return buf;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	bool check = false, optimize = false;
	unsigned int flags = 0;
	/* -D and -I apply once the context exists; their arguments point into argv. */
	const char *defines[argc], *includes[argc];
	int ndefines = 0, nincludes = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+hvVcf:D:oI:NsSaejunpyTtid:", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
		case 'V':
			printf("nftables v%s (ckubelet's nft over libnftables)\n", NFTABLES_VERSION);
			return 0;
		case 'c': check = true; break;
		case 'f': file = optarg; break;
		case 'D': defines[ndefines++] = optarg; break;
		case 'I': includes[nincludes++] = optarg; break;
		case 'o': optimize = true; break;
		case 'N': flags |= OUTPUT_REVERSEDNS; break;
		case 's': flags |= OUTPUT_STATELESS; break;
		case 'S': flags |= OUTPUT_SERVICE; break;
		case 'a': flags |= OUTPUT_HANDLE; break;
		case 'e': flags |= OUTPUT_ECHO; break;
		case 'j': flags |= OUTPUT_JSON; break;
		case 'u': flags |= OUTPUT_GUID; break;
		case 'n': flags |= OUTPUT_NUMERIC_ALL; break;
		case 'p': flags |= OUTPUT_NUMERIC_PROTO; break;
		case 'y': flags |= OUTPUT_NUMERIC_PRIO; break;
		case 'T': flags |= OUTPUT_NUMERIC_TIME; break;
		case 't': flags |= OUTPUT_TERSE; break;
		case 'i':
			fprintf(stderr, "nft: -i/--interactive is not supported by this image's nft (ckubelet's, over libnftables): pass commands as arguments or with -f\n");
			return 1;
		case 'd':
			fprintf(stderr, "nft: -d/--debug is not supported by this image's nft (ckubelet's, over libnftables)\n");
			return 1;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (file && optind < argc) {
		fprintf(stderr, "nft: give commands as arguments or with -f, not both\n");
		return 1;
	}
	if (!file && optind == argc) {
		fprintf(stderr, "nft: no command specified\n");
		return 1;
	}

	load_library();
	struct nft_ctx *ctx = lib.ctx_new(0);
	if (!ctx) {
		fprintf(stderr, "nft: could not create an nftables context\n");
		return 1;
	}
	lib.output_set_flags(ctx, lib.output_get_flags(ctx) | flags);
	lib.set_dry_run(ctx, check);
	if (optimize)
		lib.set_optimize(ctx, OPTIMIZE_ENABLED);
	for (int i = 0; i < nincludes; i++) {
		const char *path = includes[i];
		if (lib.add_include_path(ctx, path) != 0) {
			fprintf(stderr, "nft: cannot add include path %s\n", path);
			return 1;
		}
	}
	for (int i = 0; i < ndefines; i++) {
		const char *def = defines[i];
		if (lib.add_var(ctx, def) != 0) {
			fprintf(stderr, "nft: cannot define %s\n", def);
			return 1;
		}
	}

	int rc;
	if (file) {
		rc = lib.run_cmd_from_filename(ctx, file);
	} else {
		char *cmd = join(argc - optind, argv + optind);
		rc = lib.run_cmd_from_buffer(ctx, cmd);
		free(cmd);
	}
	lib.ctx_free(ctx);
	return rc ? 1 : 0;
}
