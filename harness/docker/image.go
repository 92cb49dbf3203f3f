package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Labels of a target image: the sha256 of the binary it was built from
// (an image whose label matches is reused) and the target's name. Not
// labelHarness: containers inherit their image's labels, and that one
// marks the containers CleanupStale may remove.
const (
	labelBinary = "raftkv.binary"
	labelTarget = "raftkv.target"
)

// targetImageRepo is the repository of target's images; the tag is the
// start of its binary's sha256, so that runs of different builds of one
// store never share (or overwrite) an image.
func targetImageRepo(name string) string { return "raftkv-target-" + name }

// validTargetName is what a target's name may be to name an image and a
// file in it (the Docker reference grammar allows more, but no target
// needs it).
var validTargetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// targetDockerfile is the image of one store: its static binary, FROM
// scratch, run as the unprivileged user of raftkv's own image (imageUID),
// with /data owned by it as the data directory; the node's flags are the
// container's command.
func targetDockerfile(name, sum string) string {
	return fmt.Sprintf(`# %[1]s for the raftkv harness, built FROM scratch from a static binary
# (nothing is pulled); the harness passes each node's flags as the command.
FROM scratch
COPY etc/passwd etc/group /etc/
COPY %[1]s /%[1]s
COPY --chown=%[2]d:%[2]d data /data
USER %[2]d:%[2]d
WORKDIR /data
LABEL %[3]s=%[4]s %[5]s=%[1]s
ENTRYPOINT ["/%[1]s"]
`, name, imageUID, labelBinary, sum, labelTarget)
}

// writeTargetContext assembles the build context of name's image in dir
// from binary: the Dockerfile, the binary, /etc/passwd and /etc/group
// naming the image's user, and an empty data directory. It returns the
// binary's sha256 (hex).
func writeTargetContext(dir, name, binary string) (string, error) {
	if !validTargetName.MatchString(name) {
		return "", fmt.Errorf("%w: target name %q cannot name an image", ErrBuild, name)
	}
	src, err := os.Open(binary)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuild, err)
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s is not an executable file", ErrBuild, binary)
	}
	dst, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuild, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(dst, h), src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("%w: copy %s: %w", ErrBuild, binary, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	user := name + "-harness"
	files := map[string]string{
		"Dockerfile": targetDockerfile(name, sum),
		"etc/passwd": fmt.Sprintf("%s:x:%d:%d:%s:/data:/sbin/nologin\n", user, imageUID, imageUID, user),
		"etc/group":  fmt.Sprintf("%s:x:%d:\n", user, imageUID),
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuild, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuild, err)
	}
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBuild, err)
		}
	}
	return sum, nil
}

// BuildTargetImage builds (or reuses) the image of the target name from
// its static binary (CGO_ENABLED=0: the image has no libc), the way
// docker/build.sh builds raftkv's: a context assembled in a temporary
// directory, FROM scratch, nothing pulled. The tag is
// raftkv-target-<name>:<first 12 hex digits of the binary's sha256>; an
// image with that tag whose label names the same sum is used as it is. It
// returns the tag.
//
// The images stay for the next run, as raftkv's does; `docker image rm`
// of a raftkv-target-* image that no run uses is always safe.
func BuildTargetImage(ctx context.Context, name, binary string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	dir, err := os.MkdirTemp("", "raftkv-target-image-")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuild, err)
	}
	defer os.RemoveAll(dir)
	sum, err := writeTargetContext(dir, name, binary)
	if err != nil {
		return "", err
	}
	tag := targetImageRepo(name) + ":" + sum[:12]
	if got, err := docker(ctx, nil, "image", "inspect", "--format", `{{index .Config.Labels "`+labelBinary+`"}}`, tag); err == nil && strings.TrimSpace(got) == sum {
		return tag, nil
	}
	if _, err := docker(ctx, nil, "build", "-q", "-t", tag, dir); err != nil {
		return "", fmt.Errorf("%w: %s from %s: %w", ErrBuild, tag, binary, err)
	}
	return tag, nil
}
