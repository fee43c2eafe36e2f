// Package cpuprofile runs a command's main under a CPU profile of the whole run.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Run returns main's exit status, profiling it into path unless path is empty. prog names the
// command in the error it prints (status 1) when the profile cannot be written.
func Run(path, prog string, main func() int) int {
	if path == "" {
		return main()
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: CROSSWATCH_CPUPROFILE: %v\n", prog, err)
		return 1
	}
	defer f.Close()
	defer pprof.StopCPUProfile()
	return main()
}
