package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// installInitBinary writes the embedded PID 1 binary into dir, named by its
// content hash so that agents of different versions never share one, and
// returns its path; "" when this build embeds none.
func installInitBinary(dir string) (string, error) {
	if len(initBinary) == 0 {
		return "", nil
	}
	sum := sha256.Sum256(initBinary)
	path := filepath.Join(dir, "kubelet-lite-init-"+hex.EncodeToString(sum[:6]))
	if st, err := os.Stat(path); err == nil && st.Size() == int64(len(initBinary)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install init binary: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".init-")
	if err != nil {
		return "", fmt.Errorf("install init binary: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(initBinary); err != nil {
		tmp.Close()
		return "", fmt.Errorf("install init binary: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", fmt.Errorf("install init binary: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("install init binary: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("install init binary: %w", err)
	}
	return path, nil
}
