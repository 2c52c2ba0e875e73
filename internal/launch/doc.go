// Package launch runs a ckubelet image as the node's kubelet. `ckubelet run` and `join` are each
// one Plan (PlanRun, PlanJoin): a list of steps — check the kubelet directory's propagation,
// create mount sources, write the kubelet configuration or kubeadm's patch, run kubeadm, start
// kubelet, wait for its TLS bootstrap — that is either executed or printed as a sh script, so
// --print shows exactly what run does.
//
// The container itself is one declarative Spec (KubeletSpec, JoinSpec) that a Runtime turns into
// steps. Each runtime is one small type picked once by newRuntime: cliEngine for docker, podman
// and nerdctl (one command line, their own global flags and daemon), containerdRuntime (the
// containerd Go client; ctr in scripts and units), and systemdRuntime, which installs a unit
// wrapping any of them. The host facts kubelet's configuration must agree with (cgroup version and
// driver) come from DetectHost; KubeletConfig and KubeletPatch write them.
//
// # Mounts of the kubelet container
//
// Kubelet in a container only works if it sees the host the way the container runtime sees it:
// the runtime resolves every path kubelet hands it (volume directories, log files, device nodes)
// in the host's mount namespace. The container is privileged and shares the host's network, PID,
// IPC, UTS (the node name is the host name) and cgroup namespaces. Its mounts:
//
//	host path             in container          mode          why                                                          required when
//	/var/lib/kubelet      same                  rw, rshared   kubelet's root: config.yaml, kubeadm-flags.env, pki/, pods/,   always
//	                                                          plugin and device-plugin sockets. The mounts kubelet makes
//	                                                          under pods/ (secrets, configMaps, projected and tmpfs
//	                                                          emptyDir volumes, CSI and block volumes) must propagate to
//	                                                          the host, or the runtime bind-mounts empty directories into
//	                                                          pods. Needs the host mount to be shared (systemd does this;
//	                                                          otherwise `mount --make-rshared /`), and the container's
//	                                                          root propagation rshared (docker, podman and nerdctl set
//	                                                          it for an rshared volume; on containerd ckubelet sets it).
//	/etc/kubernetes       same                  rw            bootstrap-kubelet.conf and pki/ca.crt (written by kubeadm),    always
//	                                                          kubelet.conf (written by kubelet after TLS bootstrap),
//	                                                          manifests/ (static pods).
//	/var/log/pods         same                  rw            container logs the runtime writes; kubelet rotates them and    always
//	                                                          serves `kubectl logs` from them.
//	/var/log/containers   same                  rw            the symlinks kubelet keeps for log shippers.                   always
//	/sys/fs/cgroup        same                  rw, rslave    kubelet creates the kubepods hierarchy and reads usage; with   always
//	                                                          the host cgroup namespace the paths it sees are the real ones.
//	/run                  same                  rw, rslave    the CRI socket (/run/containerd/containerd.sock,               always
//	                                                          /run/crio/crio.sock), /run/xtables.lock (the iptables lock
//	                                                          shared with kube-proxy), systemd's and D-Bus's sockets (the
//	                                                          systemd cgroup driver), resolv.conf of systemd-resolved.
//	                                                          Slave, not shared: kubelet mounts nothing there, and a slave
//	                                                          copy follows the runtime's network-namespace and shm
//	                                                          unmounts instead of pinning them (EBUSY on pod deletion).
//	/var/lib/containerd   same                  ro, rslave    the runtime's image filesystem, which kubelet measures for     always
//	 (/var/lib/containers                                     image garbage collection and eviction.
//	  for CRI-O)
//	/dev                  same                  rw, rslave    block devices kubelet formats, checks and attaches (mkfs,      always
//	                                                          fsck, losetup, local and CSI block volumes), device plugins;
//	                                                          unlike the runtime's device list, a bind follows hot-plug.
//	/etc/cni/net.d        same                  rw            not read by kubelet since 1.24 (the runtime runs CNI), but     always
//	                                                          CNI DaemonSets (flannel, calico) declare it as a hostPath,    (harmless)
//	                                                          and kubelet checks and creates hostPath directories in its
//	                                                          own mount namespace.
//	/opt/cni/bin          /host/opt/cni/bin     rw            where the CNI flavors' entrypoint (cni-install) copies the     CNI flavors
//	                                                          image's plugins for the runtime to run. Deliberately not       (harmless in
//	                                                          mounted at /opt/cni/bin: there the CNI flavors keep the        the others)
//	                                                          plugins the installer copies from, and a host mount would
//	                                                          shadow them; kubelet itself no longer runs plugins.
//	/lib/modules          same                  ro            kernel modules that mount, iptables and kubelet's checks may   if present
//	                                                          load or inspect.
//	/etc/machine-id       same                  ro            the node's machine ID in the Node status (otherwise the        if present
//	                                                          image's). Skipped if absent: docker would create a directory.
//	/etc/os-release       same                  ro            the host OS in the Node status (otherwise "Debian").           if present
//	CRI socket directory  same                  rw, rslave    only when --cri-socket lies outside /run.                      then
//	--mount SRC[:DST]     same path (default)   rw, rshared   hostPath and local PersistentVolumes: kubelet checks and       per workload
//	                                                          creates hostPath directories and mounts local volumes in its
//	                                                          own mount namespace, so it must see them at the path the
//	                                                          runtime will use, and its mounts must reach the host.
//
// On rshared: runc applies the root propagation to the mount tree it builds the container from,
// which keeps the binds peers of the host's mounts; without it they become slaves and kubelet's
// mounts stay inside its container (verified with Debian's containerd 1.6 and runc 1.1.5, whose /
// itself still shows private: only runc releases with opencontainers/runc#4724, from 2025, make
// the final root shared too).
//
// Not mounted: /proc (the host PID namespace gives the host's), /sys (privileged containers get
// the host network namespace's sysfs read-write), /var/lib/kubelet/pods (part of /var/lib/kubelet).
// A --mount whose destination equals a built-in one replaces it. Keep source and destination equal
// for anything kubelet hands to the runtime: the runtime resolves kubelet's paths on the host.
package launch
