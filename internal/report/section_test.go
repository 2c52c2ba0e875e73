package report

import (
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	for _, tc := range []struct{ name, doc, content, want, errHas string }{
		{name: "empty section", doc: "a\n" + SectionBegin + "\n" + SectionEnd + "\nb\n", content: "| t |\n",
			want: "a\n" + SectionBegin + "\n| t |\n" + SectionEnd + "\nb\n"},
		{name: "replaces old", doc: SectionBegin + "\nold\nold\n" + SectionEnd, content: "\nnew\n\n",
			want: SectionBegin + "\nnew\n" + SectionEnd},
		{name: "no markers", doc: "a", errHas: "no <!-- sizes:begin -->"},
		{name: "reversed", doc: SectionEnd + SectionBegin, errHas: "section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceSection([]byte(tc.doc), []byte(tc.content))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
