package shell

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/client"
)

// Do implements readline.AutoCompleter: commands in first position, then
// remote or local paths as the command's table row says. It returns the
// candidates' remaining text and how many runes of the word they complete.
func (s *Shell) Do(line []rune, pos int) ([][]rune, int) {
	before := string(line[:pos])
	words, word := completionWords(before)
	var cands []string
	if len(words) == 0 {
		for _, n := range s.names {
			if strings.HasPrefix(n, word) {
				cands = append(cands, n+" ")
			}
		}
		return suffixes(cands, word)
	}
	cmd, ok := s.table[strings.ToLower(words[0])]
	if !ok || len(cmd.remote) == 0 {
		return nil, 0
	}
	argPos := 0
	for _, w := range words[1:] {
		if !strings.HasPrefix(w, "-") {
			argPos++
		}
	}
	remote := cmd.remote[min(argPos, len(cmd.remote)-1)]
	if remote {
		cands = s.completeRemote(word)
	} else {
		cands = s.completeLocal(word)
	}
	return suffixes(cands, word)
}

// completionWords splits what is before the cursor into finished words and
// the word being typed (backslash-escaped spaces stay in the word).
func completionWords(before string) ([]string, string) {
	var words []string
	var cur strings.Builder
	esc := false
	for _, r := range before {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == ' ':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	return words, cur.String()
}

func escape(s string) string { return strings.ReplaceAll(s, " ", `\ `) }

// suffixes turns full candidates into what readline inserts: the part
// after the typed word, escaped, and the typed word's length.
func suffixes(cands []string, word string) ([][]rune, int) {
	sort.Strings(cands)
	out := make([][]rune, 0, len(cands))
	for _, c := range cands {
		rest := c[len(word):]
		if strings.HasSuffix(rest, " ") { // the separator after a finished word stays a separator
			rest = escape(rest[:len(rest)-1]) + " "
		} else {
			rest = escape(rest)
		}
		out = append(out, []rune(rest))
	}
	return out, len([]rune(escape(word)))
}

func (s *Shell) completeRemote(word string) []string {
	dir, prefix := path.Split(word)
	entries, ok := s.cache[dir]
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		entries, err = s.c.List(ctx, listDir(dir))
		if err != nil {
			return nil
		}
		s.cache[dir] = entries
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name, prefix) {
			continue
		}
		if e.Type == client.TypeDir {
			out = append(out, dir+e.Name+"/")
		} else {
			out = append(out, dir+e.Name+" ")
		}
	}
	return out
}

func (s *Shell) completeLocal(word string) []string {
	dir, prefix := filepath.Split(word)
	entries, err := os.ReadDir(s.local(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(s.local(dir), e.Name())); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			out = append(out, dir+e.Name()+string(filepath.Separator))
		} else {
			out = append(out, dir+e.Name()+" ")
		}
	}
	return out
}

// listDir turns the folder part of a typed path ("", "a/", "/") into what
// LIST takes: "" for the current folder, "/" for the root.
func listDir(dir string) string {
	if len(dir) > 1 {
		return strings.TrimSuffix(dir, "/")
	}
	return dir
}
