package wrappers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// fakeLibnftables stands in for libnftables in this unit test, since this machine has none: it
// prints what the frontend asked of it. The integration test runs nft with Debian's library
// (internal/build: TestKubeProxyModeSelector/nft) and the e2e test runs kube-proxy in nftables mode on it.
const fakeLibnftables = `
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
struct nft_ctx { unsigned flags; bool dry; uint32_t optimize; };
static struct nft_ctx ctx;
/* Unbuffered, so its lines and the frontend's errors come out in order. */
__attribute__((constructor)) static void unbuffered(void) { setvbuf(stdout, NULL, _IONBF, 0); }
struct nft_ctx *nft_ctx_new(uint32_t f) { (void)f; return &ctx; }
void nft_ctx_free(struct nft_ctx *c) { (void)c; printf("freed\n"); }
unsigned nft_ctx_output_get_flags(struct nft_ctx *c) { return c->flags; }
void nft_ctx_output_set_flags(struct nft_ctx *c, unsigned f) { c->flags = f; }
void nft_ctx_set_dry_run(struct nft_ctx *c, bool d) { c->dry = d; }
void nft_ctx_set_optimize(struct nft_ctx *c, uint32_t o) { c->optimize = o; }
int nft_ctx_add_include_path(struct nft_ctx *c, const char *p) { (void)c; printf("include %s\n", p); return 0; }
int nft_ctx_add_var(struct nft_ctx *c, const char *v) { (void)c; printf("define %s\n", v); return strchr(v, '=') ? 0 : -1; }
static int run(struct nft_ctx *c, const char *what, const char *s) {
	printf("flags %#x dry %d optimize %u %s %s\n", c->flags, c->dry, c->optimize, what, s);
	return strstr(s, "bad") ? -1 : 0;
}
int nft_run_cmd_from_buffer(struct nft_ctx *c, const char *b) { return run(c, "buffer", b); }
int nft_run_cmd_from_filename(struct nft_ctx *c, const char *f) { return run(c, "file", f); }
`

// TestNft checks that the frontend maps nft's command line onto libnftables as Debian's nft does.
func TestNft(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libnftables-fake.so")
	must(t, os.WriteFile(filepath.Join(dir, "fake.c"), []byte(fakeLibnftables), 0o644))
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, filepath.Join(dir, "fake.c")).CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("gcc"); lerr != nil {
			testenv.Missing(t, "gcc: run hack/setup.sh")
		}
		t.Fatalf("building the fake library: %v\n%s", err, out)
	}
	prog := Nft("1.1.3")
	prog.Flags = append(prog.Flags, `-DLIBNFTABLES="`+lib+`"`)
	bin := hostBinary(t, prog)
	for _, tc := range []struct {
		name string
		args []string
		out  string
		code int
	}{
		// What knftables runs.
		{"version", []string{"--version"}, "nftables v1.1.3 (ckubelet's nft over libnftables)\n", 0},
		{"transaction", []string{"-f", "-"}, "flags 0 dry 0 optimize 0 file -\nfreed\n", 0},
		{"check", []string{"--check", "-f", "-"}, "flags 0 dry 1 optimize 0 file -\nfreed\n", 0},
		{"json list", []string{"--json", "--terse", "list", "table", "ip", "kube-proxy"}, "flags 0x810 dry 0 optimize 0 buffer list table ip kube-proxy\nfreed\n", 0},
		// The rest of nft's options.
		{"numeric", []string{"-n", "-a", "list", "ruleset"}, "flags 0x788 dry 0 optimize 0 buffer list ruleset\nfreed\n", 0},
		{"single flags", []string{"-pyTNSsue", "list", "ruleset"}, "flags 0x5e7 dry 0 optimize 0 buffer list ruleset\nfreed\n", 0},
		{"defines and includes", []string{"-Dx=1", "--define", "y=2", "-I", "/etc/nft", "-o", "-f", "rules.nft"},
			"include /etc/nft\ndefine x=1\ndefine y=2\nflags 0 dry 0 optimize 1 file rules.nft\nfreed\n", 0},
		// Options end at the first command word, so a command may carry dashes.
		{"dashes in the command", []string{"add", "rule", "ip", "t", "c", "meta", "mark", "-1"}, "flags 0 dry 0 optimize 0 buffer add rule ip t c meta mark -1\nfreed\n", 0},
		{"failing command", []string{"bad"}, "flags 0 dry 0 optimize 0 buffer bad\nfreed\n", 1},
		{"bad define", []string{"-D", "x", "list", "ruleset"}, "define x\nnft: cannot define x\n", 1},
		{"nothing to do", nil, "nft: no command specified\n", 1},
		{"file and commands", []string{"-f", "-", "list", "ruleset"}, "nft: give commands as arguments or with -f, not both\n", 1},
		{"interactive", []string{"-i"}, "nft: -i/--interactive is not supported by this image's nft (ckubelet's, over libnftables): pass commands as arguments or with -f\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runExit(t, bin, tc.args...)
			if out != tc.out || code != tc.code {
				t.Errorf("nft %q:\n%s(exit %d)\nwant:\n%s(exit %d)", tc.args, out, code, tc.out, tc.code)
			}
		})
	}
	t.Run("library missing", func(t *testing.T) {
		must(t, os.Remove(lib))
		out, err := exec.Command(bin, "list", "ruleset").CombinedOutput()
		if err == nil || !strings.HasPrefix(string(out), "nft: loading "+lib+": ") {
			t.Errorf("without the library: %q, %v", out, err)
		}
	})
}
