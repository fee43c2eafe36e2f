package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTuneMalloc runs this test binary as a child that calls tuneMalloc: the child re-executes
// itself with glibc's settings in its environment, and the re-executed child reports them.
func TestTuneMalloc(t *testing.T) {
	if os.Getenv("CW_TUNE_CHILD") == "1" {
		tuneMalloc() // does not return the first time
		fmt.Printf("arena=%s mmap=%s\n", os.Getenv("MALLOC_ARENA_MAX"), os.Getenv("MALLOC_MMAP_THRESHOLD_"))
		return
	}
	for _, tc := range []struct {
		name  string
		env   []string
		wants string
	}{
		{"defaults", nil, "arena=2 mmap=1048576"},
		{"the operator's arena count wins", []string{"MALLOC_ARENA_MAX=4"}, "arena=4 mmap=1048576"},
		{"the operator's threshold wins", []string{"MALLOC_MMAP_THRESHOLD_=65536"}, "arena=2 mmap=65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestTuneMalloc$", "-test.v")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "MALLOC_ARENA_MAX=") && !strings.HasPrefix(kv, "MALLOC_MMAP_THRESHOLD_=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(append(cmd.Env, "CW_TUNE_CHILD=1"), tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.wants) {
				t.Fatalf("child printed\n%s\nwant %q", out, tc.wants)
			}
		})
	}
}
