package scale_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinApart puts every thread of this process (the operator and the test's clients) on
// the first CPU and every thread of its children (the API servers and etcds) on the
// others. Shared, the yardstick beside the operator does not go through what the
// operator does (at N = 2 it ran on a nearly idle core); apart, both share one CPU and
// nothing else, so the operator's CPU in yardstick units is its own work. (One run's
// milliseconds stay as unsteady as the host.) The API servers then have one core fewer,
// so the wall-clock times grow. Threads started later inherit the mask of
// the thread that starts them. undo gives this process every CPU again (the children
// are stopped by then).
func pinApart() (undo func(), err error) {
	if runtime.NumCPU() < 2 {
		return nil, fmt.Errorf("%d CPU: nothing to keep apart", runtime.NumCPU())
	}
	var own, rest, all unix.CPUSet
	own.Set(0)
	all.Set(0)
	for i := 1; i < runtime.NumCPU(); i++ {
		rest.Set(i)
		all.Set(i)
	}
	undo = func() { _ = pinThreads(os.Getpid(), &all) }
	if err := pinThreads(os.Getpid(), &own); err != nil {
		undo()
		return nil, err
	}
	for k := range childrenCPUByPID() {
		pid, _ := strconv.Atoi(k.pid)
		if err := pinThreads(pid, &rest); err != nil {
			undo()
			return nil, fmt.Errorf("%s (pid %d): %w", k.comm, pid, err)
		}
	}
	return undo, nil
}

// pinThreads sets the CPU mask of every thread of pid (a mask is a thread's, not a
// process's).
func pinThreads(pid int, set *unix.CPUSet) error {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	return nil
}
