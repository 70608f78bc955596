package bridgectl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// The renegotiation kick.
//
// A bond port that has never heard a partner sends LACPDUs only every
// 30 s, whatever its LACP rate (measured in the testbed): a node that
// merely starts passing them bundles its links 12-29 s after its guard
// opens. A port whose link comes back starts over at once. So opening a
// guard that has pass-throughs takes their trunks down and, KickHold
// later, up again: the far ends see the link go and return, and
// renegotiate through the now open path within seconds.
//
// The trunks are recorded (kickFile, "IFINDEX NAME" per line) before they
// go down and the record removed once they are up. Killed in between, the
// record names them: RestoreKicked brings them up, and every Apply, Down,
// Kick and the tcguard agent's actions call it first. Only trunks that
// were up are kicked; one an operator set down stays down.

// kickFile is the record of the trunks a kick has down.
const kickFile = "passthrough-kick"

// KickHold is how long a kick holds the trunks down: long enough for the
// far ends to see the link go (bonding polls its links every miimon, 100
// ms as usually configured; a switch's PHY reports a loss within some
// hundred ms), short against the seconds LACP then takes.
const KickHold = 500 * time.Millisecond

// Unblocker is the part of a guard Unblock uses (*tcguard.Guard, and the
// agents' node.Guard).
type Unblocker interface {
	Status(ports []int) (tcguard.Status, error)
	Unblock() error
}

// Unblock opens guard g, the guard of group ("" the default group), and kicks
// the trunks of the group's pass-throughs in the applied configuration
// when the guard was not open before: a re-run on an open node flaps
// nothing. It returns the trunks kicked. A group without pass-throughs
// costs nothing more than Unblock: promotion stays one tc request.
func (m *Manager) Unblock(g Unblocker, group string) ([]string, error) {
	if group == "" {
		group = config.DefaultGroup
	}
	trunks := m.passTrunks(group)
	if len(trunks) == 0 {
		return nil, g.Unblock()
	}
	s, err := g.Status(nil)
	if err != nil {
		return nil, err
	}
	if err := g.Unblock(); err != nil {
		return nil, err
	}
	if s.State == tcguard.Opened {
		return nil, nil
	}
	return m.Kick(trunks)
}

// passTrunksFile records, with the applied configuration, the trunks of
// each group's pass-throughs: "GROUP TRUNK..." per line. Unblock reads it
// and not the applied file, whose parse at thousands of translations
// would cost promotion more than its one tc request.
const passTrunksFile = "passthrough-trunks"

// recordPassTrunks writes passTrunksFile for cfg; none without
// pass-throughs.
func (m *Manager) recordPassTrunks(cfg *config.Config) error {
	if len(cfg.Passthroughs) == 0 {
		return m.dir.Remove(passTrunksFile)
	}
	var b bytes.Buffer
	for _, p := range cfg.Passthroughs {
		fmt.Fprintf(&b, "%s %s %s\n", p.Group, p.A, p.B)
	}
	return m.dir.WriteFile(passTrunksFile, b.Bytes())
}

// passTrunks are the trunks of group's pass-throughs in the applied
// configuration (passTrunksFile), sorted; none if nothing is applied.
func (m *Manager) passTrunks(group string) []string {
	b, err := m.dir.ReadFile(passTrunksFile)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == group {
			out = append(out, f[1:]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// kicked is one trunk a kick took down.
type kicked struct {
	index int
	name  string
}

// kickRecord reads the record of a kick's trunks (kickFile); nil if none.
// A damaged line names nothing and is skipped.
func (m *Manager) kickRecord() ([]kicked, error) {
	b, err := m.dir.ReadFile(kickFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ks := []kicked{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if i, err := strconv.Atoi(f[0]); err == nil {
			ks = append(ks, kicked{i, f[1]})
		}
	}
	return ks, nil
}

// Kick takes the named trunks that are up down, holds them KickHold and
// brings them up, recording them in between (see the top of this file).
// It returns the trunks it kicked.
func (m *Manager) Kick(trunks []string) ([]string, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := m.RestoreKicked(); err != nil {
		return nil, err
	}
	links, err := m.links.Dump(false)
	if err != nil {
		return nil, err
	}
	var ks []kicked
	for _, o := range links {
		if o.Up && slices.Contains(trunks, o.Name) {
			ks = append(ks, kicked{o.Index, o.Name})
		}
	}
	if len(ks) == 0 {
		return nil, nil
	}
	slices.SortFunc(ks, func(a, b kicked) int { return strings.Compare(a.name, b.name) })
	var rec bytes.Buffer
	var names []string
	for _, k := range ks {
		fmt.Fprintf(&rec, "%d %s\n", k.index, k.name)
		names = append(names, k.name)
	}
	if err := m.dir.WriteFile(kickFile, rec.Bytes()); err != nil {
		return nil, err
	}
	downErr := m.setKicked(ks, kernel.OpDown)
	time.Sleep(m.KickHold)
	if _, err := m.RestoreKicked(); err != nil {
		return names, errors.Join(downErr, err)
	}
	return names, downErr
}

// RestoreKicked brings up the trunks a kick has recorded as down (one
// killed before it brought them up), then removes the record. A trunk
// deleted meanwhile, or another device under its ifindex, is left alone.
// It returns the trunks it brought up.
func (m *Manager) RestoreKicked() ([]string, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	recorded, err := m.kickRecord()
	if err != nil || recorded == nil {
		return nil, err
	}
	links, err := m.links.Dump(false)
	if err != nil {
		return nil, err
	}
	var ks []kicked
	var names []string
	for _, k := range recorded {
		for _, o := range links {
			if o.Index == k.index && o.Name == k.name {
				ks = append(ks, k)
				names = append(names, k.name)
			}
		}
	}
	if err := m.setKicked(ks, kernel.OpUp); err != nil {
		return nil, fmt.Errorf("trunks left down by a renegotiation kick: %w", err)
	}
	return names, m.dir.Remove(kickFile)
}

// setKicked sets the kicked trunks down or up, one request each: one that
// fails does not keep the others down.
func (m *Manager) setKicked(ks []kicked, op kernel.Op) error {
	var errs []error
	for _, k := range ks {
		if _, err := m.links.Exec([]kernel.Request{{Op: op, Index: k.index, What: fmt.Sprintf("%s: renegotiation kick", k.name), Done: unix.ENODEV}}); err != nil {
			errs = append(errs, fmt.Errorf("trunk %s: %w", k.name, err))
		}
	}
	return errors.Join(errs...)
}
