package kernel

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
)

// Offloads are devices' feature flags, what `ethtool -k` shows. The tc
// datapath needs a trunk's VLAN filtering offload off: a NIC that filters
// VLANs in hardware drops every VLAN no device registered, and the tc
// datapath registers none.
type Offloads interface {
	// Read returns, of the features named, those dev has.
	Read(dev string, names []string) (map[string]plan.Feature, error)
	// Set turns feature name of dev on or off.
	Set(dev, name string, on bool) error
}

// Ethtool is Offloads through the SIOCETHTOOL ioctl, on a socket in the
// namespace. The ethtool netlink family would do too, but it needs a
// generic netlink family lookup and nested bitsets written by hand; the
// ioctl is fixed binary structs.
type Ethtool struct{ NS *namespace.NetNS }

// From include/uapi/linux/ethtool.h.
const (
	ethtoolGSSetInfo = 0x37
	ethtoolGStrings  = 0x1b
	ethtoolGFeatures = 0x3a
	ethtoolSFeatures = 0x3b
	ethSSFeatures    = 4
	ethGStringLen    = 32
	// Room for 256 feature names; Linux 6.x has 64.
	maxFeatureWords = 8
)

type ethtoolSSetInfo struct {
	cmd, reserved uint32
	mask          uint64
	data          uint32
}

type ethtoolGStringsReq struct {
	cmd, set, len uint32
	data          [maxFeatureWords * 32 * ethGStringLen]byte
}

type ethtoolGFeaturesReq struct {
	cmd, size uint32
	words     [maxFeatureWords]struct{ available, requested, active, neverChanged uint32 }
}

type ethtoolSFeaturesReq struct {
	cmd, size uint32
	words     [maxFeatureWords]struct{ valid, requested uint32 }
}

// ifreqData is struct ifreq with ifr_data.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ioctl runs one SIOCETHTOOL command on dev with data as its argument.
func ioctl(fd int, dev string, data unsafe.Pointer) error {
	var req ifreqData
	if len(dev) >= unix.IFNAMSIZ {
		return fmt.Errorf("%s: name too long", dev)
	}
	copy(req.name[:], dev)
	req.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
	runtime.KeepAlive(&req)
	if errno != 0 {
		return errno
	}
	return nil
}

// features returns the indexes of the named features on dev (the device's
// own feature name table: the bit numbers are the kernel's, not ABI) and
// the features' words.
func features(fd int, dev string, names []string) (map[string]int, *ethtoolGFeaturesReq, error) {
	info := ethtoolSSetInfo{cmd: ethtoolGSSetInfo, mask: 1 << ethSSFeatures}
	if err := ioctl(fd, dev, unsafe.Pointer(&info)); err != nil {
		return nil, nil, fmt.Errorf("%s: reading the feature names: %w", dev, err)
	}
	n := int(info.data)
	if info.mask == 0 || n > maxFeatureWords*32 {
		return nil, nil, fmt.Errorf("%s: %d features, more than %d", dev, n, maxFeatureWords*32)
	}
	strs := &ethtoolGStringsReq{cmd: ethtoolGStrings, set: ethSSFeatures, len: uint32(n)}
	if err := ioctl(fd, dev, unsafe.Pointer(strs)); err != nil {
		return nil, nil, fmt.Errorf("%s: reading the feature names: %w", dev, err)
	}
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	index := map[string]int{}
	for i := 0; i < n; i++ {
		s := unix.ByteSliceToString(strs.data[i*ethGStringLen : (i+1)*ethGStringLen])
		if want[s] {
			index[s] = i
		}
	}
	words := &ethtoolGFeaturesReq{cmd: ethtoolGFeatures, size: uint32((n + 31) / 32)}
	if err := ioctl(fd, dev, unsafe.Pointer(words)); err != nil {
		return nil, nil, fmt.Errorf("%s: reading the features: %w", dev, err)
	}
	return index, words, nil
}

// socket runs f with a datagram socket in the namespace: SIOCETHTOOL names
// the device in the socket's namespace.
func (e Ethtool) socket(f func(fd int) error) error {
	return e.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		return f(fd)
	})
}

func (e Ethtool) Read(dev string, names []string) (map[string]plan.Feature, error) {
	out := map[string]plan.Feature{}
	err := e.socket(func(fd int) error {
		index, words, err := features(fd, dev, names)
		if err != nil {
			return err
		}
		for name, i := range index {
			w, bit := words.words[i/32], uint32(1)<<(i%32)
			out[name] = plan.Feature{On: w.active&bit != 0, Fixed: w.available&bit == 0}
		}
		return nil
	})
	return out, err
}

func (e Ethtool) Set(dev, name string, on bool) error {
	return e.socket(func(fd int) error {
		index, words, err := features(fd, dev, []string{name})
		if err != nil {
			return err
		}
		i, ok := index[name]
		if !ok {
			return fmt.Errorf("%s: no feature %s", dev, name)
		}
		req := ethtoolSFeaturesReq{cmd: ethtoolSFeatures, size: words.size}
		req.words[i/32].valid = 1 << (i % 32)
		if on {
			req.words[i/32].requested = 1 << (i % 32)
		}
		// A change the device made differently (another feature
		// followed, or this one is fixed) is a positive return, not an
		// error: the next read sees what the device did.
		if err := ioctl(fd, dev, unsafe.Pointer(&req)); err != nil {
			return fmt.Errorf("%s: setting %s %s: %w", dev, name, onOff(on), err)
		}
		return nil
	})
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
