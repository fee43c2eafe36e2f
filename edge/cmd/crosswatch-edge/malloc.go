package main

import (
	"os"
	"syscall"
)

// glibc's malloc, tuned for a process whose large allocations are decoded frames
// (docs/BENCHMARKS.md, "Memory"). glibc reads these settings only as a process starts.
//
// FFmpeg starts new decoder threads each time a capture opens (a camera reconnect, a replay
// loop). glibc gives new threads new arenas, up to eight per core, each keeping the memory it
// freed; and after the first frame buffer is freed it raises its mmap threshold to that size, so
// later frames (3 MB at 1080p) come from those arenas too. A one-stream process replaying an
// 8.5 s clip grew from 150 to 190 MB over 45 s, and six streams peaked at 497 MB. With two
// arenas and frames always mapped on their own, one stream stays flat at about 150 MB, and six
// streams still keep real time.
var mallocEnv = [...][2]string{
	{"MALLOC_ARENA_MAX", "2"},
	{"MALLOC_MMAP_THRESHOLD_", "1048576"},
}

// tuneMalloc re-executes the program with mallocEnv added, unless each is already set (an
// operator's own choice wins). mallopt from Go's init comes too late: it changed nothing,
// measured. If the exec fails, the program runs on with glibc's defaults.
func tuneMalloc() {
	var add []string
	for _, kv := range mallocEnv {
		if _, set := os.LookupEnv(kv[0]); !set {
			add = append(add, kv[0]+"="+kv[1])
		}
	}
	if len(add) == 0 {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, os.Args, append(os.Environ(), add...))
}
