/*
 * modprobe loads kernel modules with their dependencies, as much of kmod's modprobe as
 * kube-proxy uses: `modprobe -va ip_vs` at every start (its IPVS cleanup), and the IPVS
 * modules in ipvs mode. It reads /lib/modules/$(uname -r)/modules.dep and modules.builtin (the
 * host's, mounted into the container) and loads each module with finit_module(2), leaving
 * compressed modules (.ko.xz, .ko.zst, .ko.gz) for the kernel to decompress.
 *
 * Debian's kmod links libcrypto, 6.5 MB, only to print module signatures, and libzstd; this is
 * a few kilobytes linked against the image's libc. What it does not do: module options and
 * blacklists from modprobe.d, aliases, removal (-r). In-kernel decompression needs Linux 5.17
 * with CONFIG_MODULE_DECOMPRESS (Debian, Fedora); on older kernels with compressed modules,
 * load the modules on the host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

/* Tests build with another root for /lib/modules and /sys/module. */
#ifndef ROOT
#define ROOT ""
#endif

static int verbose, quiet;
static char moddir[512]; /* /lib/modules/RELEASE */

/* in_moddir sets out to moddir/name. */
static void in_moddir(char out[PATH_MAX], const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", moddir, name) >= PATH_MAX) {
		fprintf(stderr, "modprobe: FATAL: path too long: %s/%s\n", moddir, name);
		exit(1);
	}
}

/* A module as modules.dep lists it: its path and the paths of what it needs. */
struct dep {
	char *path;  /* relative to moddir */
	char **needs; /* ordered so that loading them from the last to the first works */
	int nneeds;
};

static struct dep *deps;
static int ndeps;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fputs("modprobe: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

/* modname writes the module name of a path: its file name up to the first dot, with dashes as
 * underscores, as the kernel names modules. */
static void modname(const char *path, char *out, size_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t i = 0;
	for (; base[i] && base[i] != '.' && i + 1 < size; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[i] = 0;
}

static void read_deps(void)
{
	char path[PATH_MAX];
	in_moddir(path, "modules.dep");
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "modprobe: FATAL: %s: %s (mount the host's /lib/modules)\n", path, strerror(errno));
		exit(1);
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		deps = xrealloc(deps, (ndeps + 1) * sizeof *deps);
		struct dep *d = &deps[ndeps++];
		d->path = strdup(line);
		d->needs = NULL;
		d->nneeds = 0;
		for (char *tok = strtok(colon + 1, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
			d->needs = xrealloc(d->needs, (d->nneeds + 1) * sizeof *d->needs);
			d->needs[d->nneeds++] = strdup(tok);
		}
	}
	free(line);
	fclose(f);
}

static const struct dep *find(const char *name)
{
	char n[NAME_MAX + 1];
	for (int i = 0; i < ndeps; i++) {
		modname(deps[i].path, n, sizeof n);
		if (strcmp(n, name) == 0)
			return &deps[i];
	}
	return NULL;
}

/* builtin says whether modules.builtin lists the module: it is part of the kernel. */
static int builtin(const char *name)
{
	char path[PATH_MAX], n[NAME_MAX + 1];
	in_moddir(path, "modules.builtin");
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		modname(line, n, sizeof n);
		found = strcmp(n, name) == 0;
	}
	free(line);
	fclose(f);
	return found;
}

static int loaded(const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, ROOT "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

static int compressed(const char *path)
{
	static const char *const exts[] = {".ko.xz", ".ko.zst", ".ko.gz"};
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		size_t e = strlen(exts[i]);
		if (n > e && strcmp(path + n - e, exts[i]) == 0)
			return 1;
	}
	return 0;
}

/* insmod loads the module at path (relative to moddir) unless it is loaded already. */
static int insmod(const char *rel)
{
	char name[NAME_MAX + 1], path[PATH_MAX];
	modname(rel, name, sizeof name);
	if (loaded(name))
		return 0;
	in_moddir(path, rel);
	if (verbose)
		printf("insmod %s\n", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "modprobe: ERROR: could not open %s: %s\n", path, strerror(errno));
		return 1;
	}
	int flags = compressed(rel) ? MODULE_INIT_COMPRESSED_FILE : 0;
#ifdef FAKE_LOAD
	/* Tests cannot load modules: they record what would be loaded. */
	char mark[PATH_MAX];
	snprintf(mark, sizeof mark, ROOT "/sys/module/%s", name);
	int r = mkdir(mark, 0755);
	(void)flags;
#else
	int r = (int)syscall(SYS_finit_module, fd, "", flags);
#endif
	int e = errno;
	close(fd);
	if (r == 0 || e == EEXIST)
		return 0;
	if (flags && (e == EINVAL || e == EOPNOTSUPP))
		fprintf(stderr, "modprobe: ERROR: could not insert '%s': %s (this kernel cannot decompress %s: it needs Linux 5.17 with CONFIG_MODULE_DECOMPRESS; load it on the host)\n",
			name, strerror(e), strrchr(rel, '.'));
	else
		fprintf(stderr, "modprobe: ERROR: could not insert '%s': %s\n", name, strerror(e));
	return 1;
}

static int probe(const char *arg)
{
	char name[NAME_MAX + 1];
	modname(arg, name, sizeof name);
	if (loaded(name) || builtin(name))
		return 0;
	const struct dep *d = find(name);
	if (!d) {
		if (!quiet)
			fprintf(stderr, "modprobe: FATAL: Module %s not found in directory %s\n", arg, moddir);
		return 1;
	}
	for (int i = d->nneeds - 1; i >= 0; i--)
		if (insmod(d->needs[i]))
			return 1;
	return insmod(d->path);
}

int main(int argc, char **argv)
{
	int all = 0, opt;
	while ((opt = getopt(argc, argv, "avq")) != -1) {
		switch (opt) {
		case 'a':
			all = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			fprintf(stderr, "usage: modprobe [-a] [-v] [-q] MODULE...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: modprobe [-a] [-v] [-q] MODULE...\n");
		return 2;
	}
	struct utsname u;
	if (uname(&u) != 0) {
		perror("modprobe: uname");
		return 1;
	}
	snprintf(moddir, sizeof moddir, ROOT "/lib/modules/%s", u.release);
	read_deps();
	/* Without -a, kmod takes the words after the first as module parameters; kube-proxy never
	 * passes any, and loading with parameters is not supported here. */
	if (!all && argc - optind > 1) {
		fprintf(stderr, "modprobe: module parameters are not supported; use -a to load several modules\n");
		return 2;
	}
	int failed = 0;
	for (int i = optind; i < argc; i++)
		failed |= probe(argv[i]);
	return failed;
}
