//go:build !unix

package raftgroup

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens dir/lock; without flock it locks nothing, so on these
// systems nothing stops two members from sharing a Dir (see Config.Dir).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("raftgroup: lock Dir: %w", err)
	}
	return f, nil
}
