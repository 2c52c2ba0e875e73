/*
 * iptables-wrapper stands in for iptables, ip6tables and their -save and -restore variants in
 * ckubelet's images and hands each call to the backend the host uses, nft or legacy: rules
 * written to the other one would be invisible to the host's firewall and kube-proxy.
 *
 * The first call decides (see choose_mode) and then, where the image is writable and every save
 * command ran, points the links it was called through straight at that backend, so later calls
 * skip the wrapper. Otherwise the next call decides again, which is only slower.
 *
 * It is C, linked against the image's own libc, because it ships in every image: a Go program
 * doing the same carries its own runtime, 1.2 MB, where this is a few kilobytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long each save command may run: some iptables-nft releases could loop forever on rules
 * they did not understand. Tests build with a shorter one. */
#ifndef SAVE_TIMEOUT_MS
#define SAVE_TIMEOUT_MS 5000
#endif

extern char **environ;

/* The names the image links to the wrapper: what kubelet and kube-proxy run. */
static const char *const wrapped_names[] = {
	"iptables", "iptables-save", "iptables-restore",
	"ip6tables", "ip6tables-save", "ip6tables-restore",
};
#define NWRAPPED (sizeof wrapped_names / sizeof wrapped_names[0])

static void fail(int code, const char *what, const char *detail)
{
	fprintf(stderr, "iptables-wrapper: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(code);
}

static int is_wrapped(const char *name)
{
	for (size_t i = 0; i < NWRAPPED; i++)
		if (strcmp(wrapped_names[i], name) == 0)
			return 1;
	return 0;
}

static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* backend names the Debian binary for name in mode: iptables-save, nft -> iptables-nft-save. */
static void backend(char *out, size_t size, const char *name, const char *mode)
{
	const char *dash = strchr(name, '-');
	if (dash)
		snprintf(out, size, "%.*s-%s%s", (int)(dash - name), name, mode, dash);
	else
		snprintf(out, size, "%s-%s", name, mode);
}

/* A growing buffer for a save command's output. */
struct buf {
	char *data;
	size_t len, cap;
};

static void append(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *data = realloc(b->data, cap);
		if (!data)
			fail(1, "out of memory", NULL);
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char dir[PATH_MAX];

/* in_dir sets out to dir/name. */
static void in_dir(char out[PATH_MAX], const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name) >= PATH_MAX)
		fail(1, "path too long", dir);
}
/* A command that could not start or timed out, as opposed to one that ran and failed (no such
 * table, no kernel support): a decision made without its output is used for this call but not
 * made permanent. */
static int save_failed;

/* save runs dir/cmd with args, stdin and stderr on /dev/null, and appends what it printed until
 * it exited or, SAVE_TIMEOUT_MS after the start, was killed; a command that fails counts as
 * printing nothing more, as there are no rules to see then. */
static void save(struct buf *out, const char *cmd, const char *arg1, const char *arg2)
{
	char path[PATH_MAX];
	in_dir(path, cmd);
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		save_failed = 1;
		return;
	}
	/* Reports exec failures to the parent through a close-on-exec pipe. */
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) != 0) {
		close(p[0]);
		close(p[1]);
		save_failed = 1;
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		/* argv[0] is the full path, as a shell's PATH lookup passes it. */
		char *argv[] = {path, (char *)arg1, (char *)arg2, NULL};
		execve(path, argv, environ);
		int e = errno;
		if (write(ep[1], &e, sizeof e) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	close(ep[1]);
	if (pid < 0) {
		close(p[0]);
		close(ep[0]);
		save_failed = 1;
		return;
	}
	int e;
	if (read(ep[0], &e, sizeof e) == (ssize_t)sizeof e)
		save_failed = 1; /* it never ran */
	close(ep[0]);

	long long deadline = now_ms() + SAVE_TIMEOUT_MS;
	int killed = 0;
	char chunk[65536];
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = 1;
		}
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int r = poll(&pfd, 1, killed ? -1 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue; /* the deadline: kill, then read to the end */
		ssize_t n = read(p[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the command and every child holding the pipe are done */
		append(out, chunk, (size_t)n);
	}
	close(p[0]);
	/* The kill, if any, went to a child not yet reaped, whose pid cannot have been reused. */
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed)
		save_failed = 1;
}

/* count counts the lines of dump that pred accepts. */
static int count(const struct buf *dump, int (*pred)(const char *line, size_t len))
{
	int n = 0;
	const char *p = dump->data, *end = dump->data + dump->len;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		n += pred(p, len);
		p = nl ? nl + 1 : end;
	}
	return n;
}

/* is_hint matches a chain declaration such as ":KUBE-IPTABLES-HINT - [0:0]". */
static int is_hint(const char *line, size_t len)
{
	static const char *const chains[] = {"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"};
	if (len == 0 || line[0] != ':')
		return 0;
	const char *chain = line + 1;
	const char *sp = memchr(chain, ' ', len - 1);
	size_t clen = sp ? (size_t)(sp - chain) : len - 1;
	for (size_t i = 0; i < 2; i++)
		if (clen == strlen(chains[i]) && memcmp(chain, chains[i], clen) == 0)
			return 1;
	return 0;
}

/* is_rule matches a rule such as "-A INPUT -j ACCEPT". */
static int is_rule(const char *line, size_t len)
{
	return len > 0 && line[0] == '-';
}

/*
 * choose_mode picks the backend the host uses, "nft" or "legacy", the way
 * kubernetes-sigs/iptables-wrappers v2 does. Kubelet (1.17 and later) creates the
 * KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY chain in the mangle table of the backend it uses, so:
 *  1. the chains in nft -> nft. Checked first because reading one nft table is cheap and nft is
 *     the common case;
 *  2. the chains in legacy -> legacy. All tables are read there: "iptables-legacy-save -t mangle"
 *     would make the kernel create the mangle table if it did not exist;
 *  3. neither (kubelet has not run yet): whichever backend holds more rules, which is what some
 *     other host component chose; ties, including no rules at all, go to nft.
 */
static const char *choose_mode(void)
{
	struct buf hints = {0}, legacy = {0}, nft = {0};
	save(&hints, "iptables-nft-save", "-t", "mangle");
	save(&hints, "ip6tables-nft-save", "-t", "mangle");
	if (count(&hints, is_hint) > 0)
		return "nft";
	save(&legacy, "iptables-legacy-save", NULL, NULL);
	save(&legacy, "ip6tables-legacy-save", NULL, NULL);
	if (count(&legacy, is_hint) > 0)
		return "legacy";
	save(&nft, "iptables-nft-save", NULL, NULL);
	save(&nft, "ip6tables-nft-save", NULL, NULL);
	return count(&legacy, is_rule) > count(&nft, is_rule) ? "legacy" : "nft";
}

/* rewire points every wrapped link in dir that still leads to the wrapper at the mode's
 * backend. Failure is fine, see the top comment. */
static void rewire(const char *self, const char *mode)
{
	for (size_t i = 0; i < NWRAPPED; i++) {
		char link[PATH_MAX], target[PATH_MAX], tmp[PATH_MAX], tmpname[64], to[64];
		in_dir(link, wrapped_names[i]);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(base(target), self) != 0)
			continue;
		/* Replace by rename so a concurrent call never finds the link missing. */
		snprintf(tmpname, sizeof tmpname, ".%s.%d", wrapped_names[i], (int)getpid());
		in_dir(tmp, tmpname);
		backend(to, sizeof to, wrapped_names[i], mode);
		if (symlink(to, tmp) == 0 && rename(tmp, link) != 0)
			unlink(tmp);
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *name = argv[0] ? base(argv[0]) : ".";
	if (!is_wrapped(name)) {
		char msg[256];
		snprintf(msg, sizeof msg, "run through a link named iptables, iptables-save, iptables-restore, "
					  "ip6tables, ip6tables-save or ip6tables-restore, not \"%s\"", name);
		fail(2, msg, NULL);
	}
	/* The backends live beside the wrapper itself, wherever the link that was run is. */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		fail(1, "readlink /proc/self/exe", strerror(errno));
	self[n] = 0;
	static const char deleted[] = " (deleted)"; /* a replaced binary, as os.Executable trims it */
	size_t sl = strlen(self), dl = sizeof deleted - 1;
	if (sl > dl && strcmp(self + sl - dl, deleted) == 0)
		self[sl - dl] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		fail(1, "readlink /proc/self/exe: not an absolute path", self);
	snprintf(dir, sizeof dir, "%.*s", slash == self ? 1 : (int)(slash - self), self);

	const char *mode = choose_mode();
	if (!save_failed)
		rewire(slash + 1, mode);
	char target[64], path[PATH_MAX];
	backend(target, sizeof target, name, mode);
	in_dir(path, target);
	argv[0] = target;
	execve(path, argv, environ);
	char what[PATH_MAX + 8];
	snprintf(what, sizeof what, "exec %s", path);
	fail(1, what, strerror(errno));
	return 1;
}
