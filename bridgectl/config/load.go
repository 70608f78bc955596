package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Limits of a configuration file. Every tool parses the whole file, and the
// bridge agent's monitor does so every few seconds, so a file must not be
// able to make a run allocate without bound: a few hundred bytes of ranges
// would otherwise expand to millions of translations.
const (
	// maxFileSize is the largest file read, in bytes (1 MiB): about ten
	// thousand translations written out one by one as [[translation]]
	// tables; beyond that, ranges write them far shorter.
	maxFileSize = 1 << 20
	// maxTranslations is the most translations a file may expand to: four
	// full VLAN spaces (4 × 4094 = 16376), rounded up to 2^14. It is
	// checked while decoding, before expansion allocates anything.
	maxTranslations = 16384
)

// Load is how every tool and agent reads a configuration file: Read, then
// Parse. It returns the parsed configuration and the bytes it was parsed
// from (bridgectl records those as the applied configuration). Problems in
// the file are Errors (FILE:LINE each); a file that cannot be read gives
// the os error (it names the file).
func Load(path string) (*Config, []byte, error) {
	raw, err := Read(path)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := Parse(path, raw)
	if err != nil {
		return nil, nil, err
	}
	return cfg, raw, nil
}

// Read reads the file at path, at most maxFileSize bytes. The size is
// checked before reading, and the read is bounded anyway (the file may
// grow meanwhile). Only regular files are read: a device like /dev/zero
// never ends, and opening a FIFO would block until a writer came — it is
// opened non-blocking and refused. A file too large is an Errors (its
// content is the problem, on every node alike); the rest are read errors.
func Read(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fileType(fi.Mode()))
	}
	if fi.Size() > maxFileSize {
		return nil, tooLarge(path, fi.Size())
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxFileSize {
		return nil, tooLarge(path, int64(len(raw)))
	}
	return raw, nil
}

func tooLarge(path string, size int64) Errors {
	return Errors{{Pos{path, 0}, fmt.Sprintf("%d bytes or more, larger than the limit of %d (1 MiB)", size, maxFileSize)}}
}

// fileType names the type of a file that is not a regular one.
func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "type " + m.Type().String()
}
