package bench

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a pprof CPU profile of this process to path until
// the returned stop is called; with an empty path it does nothing. The
// load generator shares the cores with the node it measures, so its own
// cost per message is a figure worth profiling like the node's.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		return nil
	}, nil
}

// profileScenario profiles a whole scenario run when c.CPUProfile is set
// (msgs profiles only its measured window instead, see Msgs); a failure
// to write the profile is reported unless the run failed already.
func (c Common) profileScenario(err *error) func() {
	stop, perr := startCPUProfile(c.CPUProfile)
	if perr != nil {
		return func() {
			if *err == nil {
				*err = perr
			}
		}
	}
	return func() {
		if serr := stop(); serr != nil && *err == nil {
			*err = serr
		}
	}
}
