package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// stage is a FROM and the instructions after it.
type stage struct {
	image    string // as written, e.g. golang:1.26.8-alpine or ${BUILD_FROM}
	name     string // AS name, or ""
	platform string
	body     []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM, and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

// parseDockerfile reads the subset of Dockerfile syntax this repository uses: comments, backslash
// continuations (with comment lines inside them dropped, as Docker does), instructions.
func parseDockerfile(data []byte) (*dockerfile, error) {
	var insts []instruction
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur *instruction
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == nil) {
			continue
		}
		cont := strings.HasSuffix(trimmed, `\`)
		text := strings.TrimSpace(strings.TrimSuffix(trimmed, `\`))
		if cur == nil {
			cmd, args, _ := strings.Cut(text, " ")
			cur = &instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: n}
		} else if text != "" {
			cur.args = strings.TrimSpace(cur.args + " " + text)
		}
		if !cont {
			insts = append(insts, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: continuation runs past the end of the file", cur.line)
	}
	df := &dockerfile{globalArgs: map[string]string{}}
	for _, in := range insts {
		if in.cmd == "FROM" {
			st := stage{}
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--platform="); ok {
					st.platform = v
				}
				f = f[1:]
			}
			if len(f) == 0 {
				return nil, fmt.Errorf("line %d: FROM without an image", in.line)
			}
			st.image = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return nil, fmt.Errorf("line %d: cannot read FROM %s", in.line, in.args)
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			df.globalArgs[k] = strings.Trim(v, `"`)
			continue
		}
		last := &df.stages[len(df.stages)-1]
		last.body = append(last.body, in)
	}
	return df, nil
}

// all returns the stage's instructions of one kind.
func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// labels parses the stage's LABEL key="value" pairs.
func (s stage) labels() map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`([A-Za-z0-9._-]+)=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, in := range s.all("LABEL") {
		for _, m := range re.FindAllStringSubmatch(in.args, -1) {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			out[m[1]] = v
		}
	}
	return out
}

// execForm returns an exec-form (JSON array) instruction's words.
func execForm(in instruction) ([]string, error) {
	var words []string
	if err := json.Unmarshal([]byte(in.args), &words); err != nil {
		return nil, fmt.Errorf("line %d: %s is not in exec form (a JSON array): %v", in.line, in.cmd, err)
	}
	return words, nil
}

func readDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	df, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return df
}

// goDirective returns go.mod's go version.
func goDirective(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// versionAtLeast reports whether dotted version a is at least b.
func versionAtLeast(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

var (
	haBaseImage = regexp.MustCompile(`^ghcr\.io/home-assistant/base:(\d+\.\d+(?:-\d{4}\.\d+\.\d+)?)(@sha256:[0-9a-f]{64})?$`)
	goImage     = regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+\.\d+\.\d+)(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$`)
)

func TestDockerfileBaseImage(t *testing.T) {
	df := readDockerfile(t)
	from, ok := df.globalArgs["BUILD_FROM"]
	if !ok {
		t.Fatal("Dockerfile: no ARG BUILD_FROM before the first FROM")
	}
	if !haBaseImage.MatchString(from) {
		t.Errorf("ARG BUILD_FROM=%s: want the Home Assistant base image pinned to a release, like ghcr.io/home-assistant/base:3.23-2026.05.0 (not latest)", from)
	}
	final := df.stages[len(df.stages)-1]
	if final.image != "$BUILD_FROM" && final.image != "${BUILD_FROM}" {
		t.Errorf("final stage FROM %s, want FROM ${BUILD_FROM}", final.image)
	}
}

// buildStage returns the Go build stage: the one whose image is golang.
func buildStage(t *testing.T, df *dockerfile) stage {
	t.Helper()
	for _, st := range df.stages[:len(df.stages)-1] {
		if goImage.MatchString(st.image) {
			return st
		}
	}
	t.Fatal("Dockerfile: no Go build stage (FROM golang:X.Y.Z... AS name) before the final stage")
	return stage{}
}

func TestDockerfileBuildStage(t *testing.T) {
	df := readDockerfile(t)
	st := buildStage(t, df)
	if st.name == "" {
		t.Errorf("build stage FROM %s has no name (AS build)", st.image)
	}
	version := goImage.FindStringSubmatch(st.image)[1]
	if want := goDirective(t); !versionAtLeast(version, want) {
		t.Errorf("build stage Go %s, want at least go.mod's go %s", version, want)
	}

	var runs []string
	for _, in := range st.all("RUN") {
		if strings.Contains(in.args, "scripts/build") {
			runs = append(runs, in.args)
		}
	}
	if len(runs) != 1 {
		t.Fatalf("build stage RUNs calling scripts/build = %q, want exactly one", runs)
	}
	copied := false
	for _, in := range st.all("COPY") {
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			if src == "." || strings.HasPrefix(src, "scripts") {
				copied = true
			}
		}
	}
	if !copied {
		t.Error("build stage never COPYs scripts/build into the image")
	}

	// The binary the build writes is the one the final stage copies and runs.
	out := regexp.MustCompile(`scripts/build\s+(\S+)\s+\S+`).FindStringSubmatch(runs[0])
	if out == nil {
		t.Fatalf("RUN %s: want scripts/build OUTPUT VERSION", runs[0])
	}
	final := df.stages[len(df.stages)-1]
	var binary string
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		from := false
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			from = from || f[0] == "--from="+st.name
			f = f[1:]
		}
		if from && len(f) == 2 && f[0] == out[1] {
			binary = f[1]
		}
	}
	if binary == "" {
		t.Fatalf("final stage does not COPY --from=%s %s", st.name, out[1])
	}
	entry := final.all("ENTRYPOINT")
	if len(entry) == 0 {
		entry = final.all("CMD")
	}
	if len(entry) == 0 {
		t.Fatal("final stage has neither ENTRYPOINT nor CMD")
	}
	words, err := execForm(entry[len(entry)-1])
	if err != nil {
		t.Fatal(err)
	}
	if len(words) == 0 || words[0] != binary {
		t.Errorf("final stage %s %v, want it to run %s", entry[len(entry)-1].cmd, words, binary)
	}
	if len(final.all("ENTRYPOINT")) > 0 {
		if cmd := final.all("CMD"); len(cmd) > 0 {
			if words, err := execForm(cmd[len(cmd)-1]); err != nil || len(words) != 1 || words[0] != "serve" {
				t.Errorf("final stage CMD %s, want [\"serve\"] (err %v)", cmd[len(cmd)-1].args, err)
			}
		}
	}
}

func TestDockerfileLabels(t *testing.T) {
	df := readDockerfile(t)
	labels := df.stages[len(df.stages)-1].labels()
	tests := []struct {
		key  string
		want *regexp.Regexp
	}{
		{"io.hass.version", regexp.MustCompile(`^\$\{?BUILD_VERSION\}?$`)},
		{"io.hass.type", regexp.MustCompile(`^app$`)},
		{"io.hass.arch", regexp.MustCompile(`^\$\{?BUILD_ARCH\}?$`)},
	}
	for _, tc := range tests {
		if got, ok := labels[tc.key]; !ok || !tc.want.MatchString(got) {
			t.Errorf("final stage LABEL %s = %q, want %s", tc.key, got, tc.want)
		}
	}
}

func TestDockerfileHealthcheck(t *testing.T) {
	df := readDockerfile(t)
	hc := df.stages[len(df.stages)-1].all("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("final stage HEALTHCHECKs = %d, want 1", len(hc))
	}
	_, cmd, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: want HEALTHCHECK [options] CMD ...", hc[0].args)
	}
	if !strings.Contains(cmd, "http://127.0.0.1:8099/healthz") {
		t.Errorf("HEALTHCHECK CMD %s: want it to fetch http://127.0.0.1:8099/healthz", cmd)
	}
	if !regexp.MustCompile(`\bcurl\b.*(--fail|-f)\b|\bwget\b`).MatchString(cmd) {
		t.Errorf("HEALTHCHECK CMD %s: want curl --fail or wget, so an error status fails the check", cmd)
	}
}

func TestBuildScriptFlags(t *testing.T) {
	script := string(readFile(t, "scripts/build"))
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version="} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/build does not contain %q", want)
		}
	}
	if !strings.HasPrefix(script, "#!/bin/sh\n") {
		t.Error("scripts/build: want a POSIX sh script (#!/bin/sh)")
	}
}

// TestBuildScript runs scripts/build the way the image does and checks the version is stamped.
func TestBuildScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	script := filepath.Join(root(t), "scripts", "build")
	out := filepath.Join(t.TempDir(), "hookbridge")
	build := exec.Command(sh, script, out, "0.0.0-manifest.test")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("sh scripts/build: %v\n%s", err, msg)
	}
	got, err := exec.Command(out, "version").Output()
	if err != nil {
		t.Fatalf("hookbridge version: %v", err)
	}
	if got, want := strings.TrimSpace(string(got)), "0.0.0-manifest.test"; got != want {
		t.Errorf("hookbridge version = %q, want %q", got, want)
	}

	for _, version := range []string{"", "1.0 -X main.x=y", "1;rm"} {
		cmd := exec.Command(sh, script, filepath.Join(t.TempDir(), "x"), version)
		if err := cmd.Run(); err == nil {
			t.Errorf("sh scripts/build OUT %q succeeded, want it refused", version)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}

func TestParseDockerfile(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
ARG BUILD_FROM=ghcr.io/home-assistant/base:3.23
FROM --platform=$BUILDPLATFORM golang:1.26.8-alpine AS build
RUN echo a \
    # a comment inside a continuation
    && echo b
FROM ${BUILD_FROM}
LABEL \
    io.hass.type="app" \
    io.hass.arch="${BUILD_ARCH}" plain=value
ENTRYPOINT ["/usr/bin/x"]
`
	df, err := parseDockerfile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := df.globalArgs["BUILD_FROM"], "ghcr.io/home-assistant/base:3.23"; got != want {
		t.Errorf("BUILD_FROM = %q, want %q", got, want)
	}
	if len(df.stages) != 2 {
		t.Fatalf("stages = %d, want 2", len(df.stages))
	}
	b := df.stages[0]
	if b.name != "build" || b.platform != "$BUILDPLATFORM" || b.image != "golang:1.26.8-alpine" {
		t.Errorf("build stage = %+v", b)
	}
	if got, want := b.body[0].args, "echo a && echo b"; got != want {
		t.Errorf("RUN = %q, want %q", got, want)
	}
	l := df.stages[1].labels()
	if l["io.hass.type"] != "app" || l["io.hass.arch"] != "${BUILD_ARCH}" || l["plain"] != "value" {
		t.Errorf("labels = %v", l)
	}
	if _, err := parseDockerfile([]byte("FROM x\nRUN a \\\n")); err == nil {
		t.Error("parseDockerfile(dangling continuation) = nil error, want one")
	}
	if _, err := parseDockerfile([]byte("RUN a\nFROM x\n")); err == nil {
		t.Error("parseDockerfile(RUN before FROM) = nil error, want one")
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1.26.8", "1.26.8", true},
		{"1.26.9", "1.26.8", true},
		{"1.27.0", "1.26.8", true},
		{"1.26.7", "1.26.8", false},
		{"1.26.0", "1.26", true},
		{"1.25.9", "1.26", false},
	}
	for _, tc := range tests {
		if got := versionAtLeast(tc.a, tc.b); got != tc.want {
			t.Errorf("versionAtLeast(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
