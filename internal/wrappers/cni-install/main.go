// Command cni-install is the entrypoint of the CNI flavors of the kubelet image. Since Kubernetes
// 1.24 kubelet no longer runs CNI plugins: the container runtime does, from the host's
// /opt/cni/bin. So the plugins the image carries are only of use once copied onto the host; this
// program copies them there when the host directory is mounted, then execs kubelet:
//
//	cni-install [--from=/opt/cni/bin] [--to=/host/opt/cni/bin] [-- command [arg...]]
//
// The container's arguments are appended to the command by the runtime. Without a command it
// exits 0 after installing, to serve as an init container. If --to does not exist the host
// directory was not mounted: it says so and runs the command without installing anything.
//
// Installing is idempotent and safe while the runtime runs plugins: a plugin whose content and
// mode already match is left untouched, others are written beside their destination, synced and
// renamed over it, and files in --to that the image does not carry (other plugins) are never
// touched. The image's plugins are links to one multicall binary: those links are installed as
// links, after the binary. See install.go.
//
// A plugin that cannot be installed is fatal: it exits 1 without starting the command. A kubelet
// started anyway would register a node whose pods cannot get a network (or get an old plugin),
// which is harder to notice than a container that fails with one line naming the file and the
// fix, and that the restart policy retries.
//
// Build it static (CGO_ENABLED=0) so it needs nothing from the image. It ships in every CNI image,
// so it avoids fmt, flag, os/exec, crypto/sha256 (content is compared byte by byte, not hashed)
// and os.Stat (see stat), which would add a sixth or more to its 1.5 MB.
package main

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const usage = "usage: cni-install [--from=DIR] [--to=DIR] [-- command [arg...]]\n" +
	"  --from=DIR  the image's CNI plugins (default " + defaultFrom + ")\n" +
	"  --to=DIR    where the host's plugin directory is mounted (default " + defaultTo + ")\n" +
	"Copies every plugin in --from into --to if --to exists, then execs the command.\n"

const (
	defaultFrom = "/opt/cni/bin"
	defaultTo   = "/host/opt/cni/bin"
)

// options are the parsed command line.
type options struct {
	from, to string
	command  []string // after "--"; empty to only install
	help     bool
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		logln(err.Error())
		os.Stderr.WriteString(usage)
		os.Exit(2)
	}
	if o.help {
		os.Stdout.WriteString(usage)
		os.Exit(0)
	}
	if err := installIfMounted(o.from, o.to); err != nil {
		logln(err.Error())
		os.Exit(1)
	}
	if len(o.command) == 0 {
		os.Exit(0)
	}
	path, err := lookPath(o.command[0])
	if err != nil {
		logln(err.Error())
		os.Exit(127) // as env(1) and shells exit when they cannot find the command
	}
	err = syscall.Exec(path, o.command, os.Environ())
	logln("exec " + path + ": " + err.Error())
	os.Exit(126)
}

// parseArgs reads options up to "--"; everything after it is the command. Options take
// "--name=value", "--name value" or a single dash, as package flag does.
func parseArgs(args []string) (options, error) {
	o := options{from: defaultFrom, to: defaultTo}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.command = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") {
			return o, errors.New("unexpected argument \"" + a + "\": put the command after \"--\"")
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch name {
		case "h", "help":
			o.help = true
			continue
		case "from", "to":
		default:
			return o, errors.New("unknown option \"" + a + "\"")
		}
		if !hasValue {
			if i+1 == len(args) {
				return o, errors.New("option \"" + a + "\" needs a directory")
			}
			i++
			value = args[i]
		}
		if value == "" {
			return o, errors.New("option \"" + a + "\" needs a directory")
		}
		if v := strings.TrimRight(value, "/"); v != "" {
			value = v // for tidy paths in messages
		}
		if name == "from" {
			o.from = value
		} else {
			o.to = value
		}
	}
	return o, nil
}

// installIfMounted installs the plugins if the host directory is there, and logs what it did.
func installIfMounted(from, to string) error {
	fi, err := stat(to)
	if errors.Is(err, fs.ErrNotExist) {
		logln("plugins not installed on the host: " + to + " does not exist (mount the host's " +
			defaultFrom + " there to install them)")
		return nil
	}
	if err != nil {
		return errors.New(err.Error() + "; mount the host's CNI plugin directory at " + to)
	}
	if !fi.dir() {
		return errors.New(to + " is not a directory; mount the host's CNI plugin directory there")
	}
	res, err := install(from, to, logln)
	if err != nil {
		return err
	}
	logln("from " + from + " to " + to + ": " + strconv.Itoa(res.installed) + " installed, " +
		strconv.Itoa(res.updated) + " updated, " + strconv.Itoa(res.unchanged) + " unchanged")
	return nil
}

// lookPath finds file as exec.LookPath does on Unix: a name with a slash is used as it is,
// others are searched for in $PATH, where an empty entry means the current directory; like
// exec.LookPath since Go 1.19 it refuses a match relative to the current directory.
func lookPath(file string) (string, error) {
	if strings.Contains(file, "/") {
		if err := executable(file); err != nil {
			return "", errors.New("command " + file + ": " + err.Error())
		}
		return file, nil
	}
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		path := dir + "/" + file
		if executable(path) != nil {
			continue
		}
		if !strings.HasPrefix(path, "/") {
			return "", errors.New("command " + file + " resolves to " + path +
				", relative to the current directory: give its absolute path")
		}
		return path, nil
	}
	return "", errors.New("command " + file + " not found in $PATH; give its absolute path")
}

// executable reports why path cannot be executed, if it cannot.
func executable(path string) error {
	fi, err := stat(path)
	if err != nil {
		return err
	}
	if fi.dir() || fi.mode&0o111 == 0 {
		return fs.ErrPermission
	}
	return syscall.Access(path, 1 /* X_OK */)
}

// logln writes one line to stderr in a single write, so lines of concurrent writers stay whole.
func logln(msg string) {
	os.Stderr.WriteString("cni-install: " + msg + "\n")
}
