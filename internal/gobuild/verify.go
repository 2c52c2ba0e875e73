package gobuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// verificationVars are the go command's settings that decide whether downloaded modules are
// checked against the checksum database and fetched from a proxy.
var verificationVars = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOFLAGS"}

// CheckVerification refuses settings, from the environment or `go env -w`, under which the go
// command would fetch a module without verifying it against the checksum database, or from
// somewhere other than a module proxy: every fetched byte must be verified whatever the
// caller's environment. Variables the go command does not know (GONOSUMCHECK) are refused too,
// since a user who sets one means to weaken verification.
func (g *Go) CheckVerification(ctx context.Context) error {
	out, err := g.run(ctx, os.TempDir(), moduleEnv[:2], append([]string{"env", "-json"}, verificationVars...)...)
	if err != nil {
		return fmt.Errorf("reading the go command's settings: %w", err)
	}
	env := map[string]string{}
	if err := json.Unmarshal(out, &env); err != nil {
		return fmt.Errorf("reading the go command's settings: %w", err)
	}
	if v := os.Getenv("GONOSUMCHECK"); v != "" {
		env["GONOSUMCHECK"] = v
	}
	return checkVerification(env)
}

func checkVerification(env map[string]string) error {
	fail := func(name, why, fix string) error {
		return fmt.Errorf("%s=%s %s: ckubelet verifies every module against the checksum database and fetches through a module proxy; %s", name, env[name], why, fix)
	}
	proxies := strings.FieldsFunc(env["GOPROXY"], func(r rune) bool { return r == ',' || r == '|' })
	switch {
	case len(proxies) == 0 || proxies[0] == "off":
		return fail("GOPROXY", "allows no module proxy", "unset GOPROXY or name a proxy")
	case proxies[0] == "direct":
		return fail("GOPROXY", "fetches from version control servers instead of a module proxy", "put a proxy first (the default is https://proxy.golang.org,direct)")
	}
	if sumdb := env["GOSUMDB"]; sumdb == "off" || sumdb == "" {
		return fail("GOSUMDB", "turns the checksum database off", "unset GOSUMDB")
	}
	for _, name := range []string{"GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GONOSUMCHECK"} {
		if env[name] != "" {
			return fail(name, "exempts modules from verification", "unset "+name+" for ckubelet (e.g. `"+name+"= ckubelet build`)")
		}
	}
	if slices.ContainsFunc(strings.Fields(env["GOFLAGS"]), func(f string) bool { return f == "-insecure" || strings.HasPrefix(f, "-insecure=") }) {
		return fail("GOFLAGS", "allows insecure downloads", "remove -insecure from GOFLAGS")
	}
	return nil
}
