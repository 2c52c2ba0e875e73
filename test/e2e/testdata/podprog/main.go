// Command podprog is the e2e test's workload: it prints the files of its volumes (a Secret, a
// ConfigMap, a hostPath directory), writes a file into its emptyDir and one into the hostPath
// directory, reads the first back, and serves what it read over HTTP for the Service check.
// Static, standard library only: the test compiles it and wraps it in an image of one layer.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

func main() {
	// As a container's PID 1, a signal without a handler is ignored: exit on SIGTERM ourselves.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-stop; os.Exit(0) }()
	pod := os.Getenv("POD_NAME")
	var report strings.Builder
	line := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		fmt.Println(s)
		report.WriteString(s + "\n")
	}
	for _, dir := range []string{"/etc/e2e/secret", "/etc/e2e/config", "/host"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			line("ERROR %s: %v", dir, err)
			continue
		}
		var names []string
		for _, e := range entries {
			// Secret and ConfigMap volumes hold ..data and ..TIMESTAMP links next to the keys.
			if !strings.HasPrefix(e.Name(), "..") && !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				line("ERROR %s/%s: %v", dir, n, err)
				continue
			}
			line("%s/%s=%s", dir, n, strings.TrimSpace(string(b)))
		}
	}
	written := "/data/written.txt"
	if err := os.WriteFile(written, []byte("written by "+pod+"\n"), 0o644); err != nil {
		line("ERROR %s: %v", written, err)
	} else if b, err := os.ReadFile(written); err != nil {
		line("ERROR %s: %v", written, err)
	} else {
		line("%s=%s", written, strings.TrimSpace(string(b)))
	}
	if err := os.WriteFile("/host/from-pod.txt", []byte("written by "+pod+"\n"), 0o644); err != nil {
		line("ERROR /host/from-pod.txt: %v", err)
	}
	l, err := net.Listen("tcp", ":8080")
	if err != nil {
		line("ERROR listen: %v", err)
		select {}
	}
	line("serving on %s", l.Addr())
	body := report.String()
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pod %s\n%s", pod, body)
	}))
}
