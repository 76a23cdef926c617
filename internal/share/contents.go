package share

import (
	"io/fs"
	"path/filepath"
	"time"
)

// Counting what a share holds stops at whichever of these comes first, so
// sharing a home folder or a disk does not hold the banner up: the count
// is then a lower bound.
const (
	contentsMaxEntries = 200_000
	contentsMaxTime    = 2 * time.Second
)

// Contents is what a share offers visitors, for its start banner.
type Contents struct {
	Files, Folders int   // below the shared folder, itself not counted
	Bytes          int64 // sizes of the files
	Hidden         int   // dot names left out (not descended into)
	Partial        bool  // counting stopped early: the figures are lower bounds
}

// Contents counts the files and folders visitors can see, as the share
// shows them (dot names left out unless Hidden). Symbolic links are not
// followed.
func (s *Share) Contents() Contents {
	var c Contents
	deadline := time.Now().Add(contentsMaxTime)
	n := 0
	filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if p == s.dir {
			return nil
		}
		if n++; n > contentsMaxEntries || n%1024 == 0 && time.Now().After(deadline) {
			c.Partial = true
			return filepath.SkipAll
		}
		if err != nil {
			return nil // unreadable: visitors cannot see into it either
		}
		if !s.hidden && d.Name()[0] == '.' {
			c.Hidden++
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			c.Folders++
		case d.Type().IsRegular():
			c.Files++
			if fi, err := d.Info(); err == nil {
				c.Bytes += fi.Size()
			}
		}
		return nil
	})
	return c
}
