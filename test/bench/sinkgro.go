package main

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sinks share the translator's CPU (the generator needs the other one
// to itself), and must not share its backlog: RPS queues the generator's
// frames to the translator CPU's backlog, and the generator keeps that
// queue full; a frame the translator forwards to a veth whose peer is in
// the same mode would be queued there too, and dropped with the
// generator's excess. With GRO on, a veth receives through NAPI instead (a
// ring per queue, polled on the CPU that sent): the translator's output
// never competes with its input. But not in Linux 6.1 here: veth takes its
// NAPI path only for frames from a device without TSO
// (veth_skb_is_eligible_for_gro), and the trunks have TSO; the profile
// (-profile) finds no veth_poll at all, the sinks' receive under the
// translator CPU's process_backlog. Harmless while every offered frame
// arrives (the rows show it); at saturation the sinks' frames would share
// the generator's backlog drops.

// ethtoolValue is struct ethtool_value; ETHTOOL_SGRO and ETHTOOL_GGRO are
// the legacy ioctls (x/sys/unix has neither).
type ethtoolValue struct{ cmd, data uint32 }

const (
	ethtoolGGRO = 0x2b
	ethtoolSGRO = 0x2c
)

// ifreqData is struct ifreq with ifr_data.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// enableGRO turns GRO on for dev in the named namespace and checks it took.
func enableGRO(netnsName, dev string) {
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		done <- setGRO(netnsName, dev)
	}()
	if err := <-done; err != nil {
		fatalf("GRO on %s in %s: %v", dev, netnsName, err)
	}
}

func setGRO(netnsName, dev string) error {
	if err := enterNetns(netnsName); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, v := range []ethtoolValue{{ethtoolSGRO, 1}, {cmd: ethtoolGGRO}} {
		if err := ethtoolIoctl(fd, dev, &v); err != nil {
			return err
		}
		if v.cmd == ethtoolGGRO && v.data != 1 {
			return fmt.Errorf("GRO still off")
		}
	}
	return nil
}

func ethtoolIoctl(fd int, dev string, v *ethtoolValue) error {
	var ifr ifreqData
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("SIOCETHTOOL %#x: %w", v.cmd, errno)
	}
	return nil
}
