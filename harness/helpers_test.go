package harness

import "path/filepath"

func globYAML(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "*.yaml"))
}
