package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc reads a Linux process's CPU time and memory from /proc. Pid 0 is the calling process.
type Proc struct {
	Pid int
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// architecture Hookbridge ships for.
const clockTick = 10 * time.Millisecond

func (p Proc) path(name string) string {
	if p.Pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(p.Pid) + "/" + name
}

// CPU returns the user plus system CPU time the process has used, all threads together: from
// getrusage for the calling process (microseconds), else from /proc/<pid>/stat (clock ticks).
func (p Proc) CPU() (time.Duration, error) {
	if p.Pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	data, err := os.ReadFile(p.path("stat"))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count fields after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: malformed", p.path("stat"))
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: malformed", p.path("stat"))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: malformed", p.path("stat"))
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS  int64 // resident now (VmRSS)
	Peak int64 // resident at most, since start or the last ResetPeak (VmHWM)
	// Anon and File split RSS: anonymous memory (the Go heap, stacks) and pages of mapped files
	// (the binary, and the bbolt state file, which bbolt reads through mmap).
	Anon int64 // RssAnon
	File int64 // RssFile
}

// Memory returns the process's resident memory.
func (p Proc) Memory() (Memory, error) {
	data, err := os.ReadFile(p.path("status"))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(data), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %s: %w", p.path("status"), name, err)
		}
		*dst = kb << 10
	}
	return m, nil
}

// ResetPeak restarts the process's peak resident memory from what is resident now (Linux
// clear_refs 5), so the next Memory's Peak is the peak of what happened in between.
func (p Proc) ResetPeak() error {
	return os.WriteFile(p.path("clear_refs"), []byte("5"), 0)
}

// Machine is the whole machine's counters that tell a noisy run apart: time in which some task
// waited for a CPU or for I/O (pressure stall information) and CPU time the hypervisor gave to
// others (steal).
type Machine struct {
	CPUStall time.Duration // /proc/pressure/cpu, "some" total: runnable tasks waiting for a CPU
	IOStall  time.Duration // /proc/pressure/io, "some" total
	Steal    time.Duration // /proc/stat, steal of all CPUs
	Total    time.Duration // /proc/stat, all CPU time of all CPUs
}

// ReadMachine reads the machine counters; those the kernel does not offer stay zero.
func ReadMachine() Machine {
	m := Machine{CPUStall: pressure("cpu"), IOStall: pressure("io")}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line)
		if len(f) > 8 && f[0] == "cpu" {
			for i, v := range f[1:] {
				n, _ := strconv.ParseInt(v, 10, 64)
				if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
					m.Total += time.Duration(n) * clockTick
				}
				if i == 7 {
					m.Steal = time.Duration(n) * clockTick
				}
			}
		}
	}
	return m
}

// pressure returns the "some" stall total of a resource, 0 when the kernel has no PSI.
func pressure(resource string) time.Duration {
	data, err := os.ReadFile("/proc/pressure/" + resource)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
	}
	return 0
}
