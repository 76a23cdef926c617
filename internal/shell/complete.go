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
// candidates' remaining text, escaped so that split reads back the very
// name, and how many runes of the word as typed they complete.
func (s *Shell) Do(line []rune, pos int) ([][]rune, int) {
	before := string(line[:pos])
	words, word, quote, typed := completionWords(before)
	var cands []string
	if len(words) == 0 {
		for _, n := range s.names {
			if strings.HasPrefix(n, word) {
				cands = append(cands, n+" ")
			}
		}
		return suffixes(cands, word, quote, typed)
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
	return suffixes(cands, word, quote, typed)
}

// completionWords is the shell's one word reader: split uses it for whole
// lines, completion for what is before the cursor. It returns the finished
// words, the word being typed (unescaped, unquoted), the quote it is still
// inside (0 for none) and how many runes it takes as typed (0: none begun).
func completionWords(before string) (words []string, word string, quote rune, typed int) {
	var cur strings.Builder
	inWord, esc := false, false
	for _, r := range before {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			typed = -1
		default:
			cur.WriteRune(r)
			inWord = true
		}
		typed++
	}
	return words, cur.String(), quote, typed
}

// wordSpecial is every character split gives a meaning to outside quotes.
const wordSpecial = " \t'\"\\"

// escapeIn writes s so that split, reading it inside quote (0: none),
// gives s back.
func escapeIn(s string, quote rune) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case quote == '\'' && r == '\'':
			b.WriteString(`'\''`) // close, an escaped quote, reopen
		case quote == '"' && (r == '"' || r == '\\'),
			quote == 0 && strings.ContainsRune(wordSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// suffixes turns full candidates into what readline inserts after the
// typed word: the rest, escaped for the quote the word is in; a finished
// word also closes that quote before its separator.
func suffixes(cands []string, word string, quote rune, typed int) ([][]rune, int) {
	sort.Strings(cands)
	out := make([][]rune, 0, len(cands))
	for _, c := range cands {
		rest := c[len(word):]
		if strings.HasSuffix(rest, " ") { // the separator after a finished word stays a separator
			rest = escapeIn(rest[:len(rest)-1], quote)
			if quote != 0 {
				rest += string(quote)
			}
			rest += " "
		} else {
			rest = escapeIn(rest, quote)
		}
		out = append(out, []rune(rest))
	}
	return out, typed
}

func (s *Shell) completeRemote(word string) []string {
	dir, prefix := path.Split(word)
	// Keyed by the folder the listing was made in too: "a/" after cd is
	// another folder, even if forget was missed.
	key := s.cwd + "\x00" + dir
	entries, ok := s.cache[key]
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		entries, err = s.c.List(ctx, listDir(dir))
		if err != nil {
			return nil
		}
		s.cache[key] = entries
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
