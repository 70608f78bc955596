//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// node is one cluster node: a network namespace wired to the switches and
// a process tree in its own mount, UTS and PID namespaces (test/e2e/node).
type node struct {
	name string
	addr net.IP // corosync address on cl0
	dir  string // DIR of test/e2e/node: the node's /var/log, /etc/... under DIR/fs
	ns   *netNS
	cmd  *exec.Cmd
}

// corosyncConf: knet over the corosync switch, two_node (either node alone
// keeps quorum), a short token so that a lost node is noticed in seconds.
var corosyncConf = template.Must(template.New("corosync.conf").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`totem {
	version: 2
	cluster_name: qbe2e
	transport: knet
	token: 3000
	crypto_cipher: aes256
	crypto_hash: sha256
}
nodelist {
{{- range $i, $n := .}}
	node {
		ring0_addr: {{$n.Addr}}
		name: {{$n.Name}}
		nodeid: {{inc $i}}
	}
{{- end}}
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
logging {
	to_stderr: no
	to_logfile: yes
	logfile: /var/log/corosync.log
	to_syslog: no
	timestamp: hires
}
`))

// writeFile writes a file of the node's private tree (DIR/fs/PATH).
func (n *node) writeFile(path string, data []byte, mode os.FileMode) error {
	p := filepath.Join(n.dir, "fs", path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, mode)
}

// file is the path, seen from the test, of a file of the node's tree.
func (n *node) file(path string) string { return filepath.Join(n.dir, "fs", path) }

// boot creates the node's namespace, wires it and starts test/e2e/node in
// it. The node's files (corosync.conf, authkey, qinqbridge.toml) must be
// written before.
func (n *node) boot(tp *topology) error {
	ns, err := createNS("qb-" + n.name)
	if err != nil {
		return err
	}
	n.ns = ns
	if err := tp.wireNode(ns, n.name, n.addr); err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(n.dir, "node.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("./node", n.name, n.dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID}
	// The child inherits the network namespace of the thread that forks it.
	if err := testbed.Do(ns.h, cmd.Start); err != nil {
		return fmt.Errorf("start node %s: %w", n.name, err)
	}
	n.cmd = cmd
	return nil
}

// kill powers the node off: SIGKILL to its PID 1 kills every process of
// its PID namespace; deleting the namespace's name then lets the kernel
// delete its interfaces, so the switches see their ports go down.
func (n *node) kill() {
	if n.cmd != nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		n.cmd = nil
	}
	if n.ns != nil {
		n.ns.remove()
		n.ns = nil
	}
}

func (n *node) alive() bool { return n.cmd != nil }

// run runs a command inside the node (all its namespaces) and returns its
// combined output.
func (n *node) run(ctx context.Context, args ...string) (string, error) {
	if n.cmd == nil {
		return "", fmt.Errorf("node %s is down", n.name)
	}
	a := append([]string{"-t", strconv.Itoa(n.cmd.Process.Pid), "-m", "-u", "-n", "-p", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", a...)
	cmd.Env = append(os.Environ(), "HOME=/root")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("%s on %s: %w: %s", args, n.name, err, b)
	}
	return string(b), nil
}

// runT runs with a timeout.
func (n *node) runT(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.run(ctx, args...)
}
