package testenv

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that records how Missing ended the test. Its Skip and Fatalf return
// (the real ones end the goroutine), so only the first is kept.
type recorder struct {
	testing.TB
	ended string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skip(args ...any)               { r.end("skip: " + fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, a ...any) { r.end("fail: " + fmt.Sprintf(format, a...)) }

func (r *recorder) end(how string) {
	if r.ended == "" {
		r.ended = how
	}
}

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"", "skip: upx is not installed"},
		{"1", "fail: upx is not installed (CKUBELET_REQUIRE_TOOLS is set: failing instead of skipping)"},
	} {
		t.Setenv(RequireEnv, tc.require)
		r := &recorder{TB: t}
		Missing(r, "%s is not installed", "upx")
		if r.ended != tc.want {
			t.Errorf("%s=%q: %q, want %q", RequireEnv, tc.require, r.ended, tc.want)
		}
	}
}
