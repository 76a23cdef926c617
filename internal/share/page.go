package share

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

//go:embed assets
var assetFS embed.FS

// maxListing bounds how many entries of one folder are read and sorted: a
// folder with millions of files must not make the server hold them all for
// every page view. The page says when it was cut; FTP still lists it all.
const maxListing = 100_000

// pageSize is how many entries one page shows (about 1 MB of HTML): more
// makes phones crawl. Further entries are on following pages (?from=N).
const pageSize = 1000

// listBatch is how many directory entries are read per call, so a huge
// folder is read in pieces rather than in one allocation.
const listBatch = 512

// page holds the parsed template and the assets inlined into it. Built once
// per Handler; immutable.
type page struct {
	tmpl *template.Template
	css  template.CSS
	js   template.JS
	icon template.URL
}

func loadPage() (*page, error) {
	t, err := template.New("page.html").Funcs(template.FuncMap{
		"human": HumanBytes,
	}).ParseFS(assetFS, "assets/page.html")
	if err != nil {
		return nil, err
	}
	css, err := assetFS.ReadFile("assets/style.css")
	if err != nil {
		return nil, err
	}
	js, err := assetFS.ReadFile("assets/app.js")
	if err != nil {
		return nil, err
	}
	icon, err := assetFS.ReadFile("assets/icon.svg")
	if err != nil {
		return nil, err
	}
	return &page{
		tmpl: t,
		css:  template.CSS(css),
		js:   template.JS(js),
		icon: template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(icon)),
	}, nil
}

type crumb struct {
	Name, Href string
	Title      string // the full path
	Folded     bool   // stands for several folders ("…")
	Current    bool   // the folder shown
}

type entry struct {
	Name string
	// Head and Tail split Name for display: a narrow screen cuts Head, never
	// Tail, so names that differ only at their end (photo_10.jpg,
	// photo_11.jpg) stay told apart and the extension stays readable.
	Head, Tail string
	Href       string
	IsDir      bool
	Size       int64
	ModTime    time.Time
}

type column struct {
	Key, Label, Href string
	Active, Desc     bool
}

type pageData struct {
	Title     string
	Path      string
	Crumbs    []crumb
	Entries   []entry
	Columns   []column
	Dirs      int
	Files     int
	Bytes     int64
	Truncated bool
	Total     int    // entries in the folder (up to maxListing)
	From, To  int    // 1-based range of entries shown, when paged
	Prev      string // link to the previous page; "" on the first
	Next      string // link to the next page; "" on the last
	User      string
	CanUpload bool
	CanMkdir  bool
	CanDelete bool
	CanRmdir  bool
	Nonce     string
	CSS       template.CSS
	JS        template.JS
	Icon      template.URL
}

// list renders the page of folder q.name.
func (h *handler) list(q *request) {
	d, err := h.fsys.List(q.ctx, q.name)
	if err != nil {
		h.fail(q, "open dir", err)
		return
	}
	defer d.Close()
	data := pageData{
		Title: q.abs,
		Path:  dirURL(q.abs),
		User:  q.user.Name,
	}
	for {
		batch, err := d.Next(listBatch)
		for _, de := range batch {
			if len(data.Entries) >= maxListing {
				data.Truncated = true
				break
			}
			if e, ok := h.entry(q, de); ok {
				data.Entries = append(data.Entries, e)
			}
		}
		if data.Truncated || errors.Is(err, io.EOF) || len(batch) == 0 {
			break
		}
		if err != nil {
			h.fail(q, "read dir", err)
			return
		}
	}
	key, desc := sortKey(q.r.URL.Query())
	sortEntries(data.Entries, key, desc)
	for _, e := range data.Entries {
		if e.IsDir {
			data.Dirs++
		} else {
			data.Files++
			data.Bytes += e.Size
		}
	}
	data.Total = len(data.Entries)
	if data.Total > pageSize {
		from, _ := strconv.Atoi(q.r.URL.Query().Get("from"))
		from = min(max(from, 0), (data.Total-1)/pageSize*pageSize)
		to := min(from+pageSize, data.Total)
		data.Entries = data.Entries[from:to]
		data.From, data.To = from+1, to
		link := func(at int) string {
			v := url.Values{"sort": {key}, "from": {strconv.Itoa(at)}}
			if desc {
				v.Set("order", "desc")
			}
			return "?" + v.Encode()
		}
		if from > 0 {
			data.Prev = link(from - pageSize)
		}
		if to < data.Total {
			data.Next = link(to)
		}
	}
	data.Crumbs = crumbs(q.abs)
	data.Columns = columns(key, desc)
	p := q.user.PermsFor(q.abs)
	data.CanUpload = p.Has(accounts.PermUpload)
	data.CanMkdir = p.Has(accounts.PermMkdir)
	data.CanDelete = p.Has(accounts.PermDelete)
	data.CanRmdir = p.Has(accounts.PermRmdir)
	data.Nonce = nonce()
	data.CSS, data.JS, data.Icon = h.page.css, h.page.js, h.page.icon

	var buf bytes.Buffer
	if err := h.page.tmpl.Execute(&buf, data); err != nil {
		h.log.Error("render listing", "path", q.abs, "err", err)
		http.Error(q.w, "500 internal error", http.StatusInternalServerError)
		return
	}
	hd := q.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'nonce-"+data.Nonce+
		"'; script-src 'nonce-"+data.Nonce+"'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		q.w.Write(buf.Bytes())
	}
}

// entry describes one directory entry. The storage's listing shows a link
// as what it points to inside the jail; one that leaves the root, or
// dangles, is still a link, and is left out.
func (h *handler) entry(q *request, fi fs.FileInfo) (entry, bool) {
	name := fi.Name()
	if strings.HasPrefix(name, tempPrefix) || h.hideDot && name[0] == '.' {
		return entry{}, false
	}
	if !(fi.IsDir() || fi.Mode().IsRegular()) {
		return entry{}, false
	}
	e := entry{Name: name, IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	e.Head, e.Tail = splitName(name)
	child := path.Join(q.abs, name)
	if e.IsDir {
		e.Href = escapePath(child + "/")
	} else {
		e.Href = escapePath(child)
		e.Size = fi.Size()
	}
	return e, true
}

func sortKey(v url.Values) (key string, desc bool) {
	key = v.Get("sort")
	switch key {
	case "name", "size", "date":
	default:
		key = "name"
	}
	return key, v.Get("order") == "desc"
}

// sortEntries orders folders first, then by key; ties fall back to the
// name so the order is stable between reloads.
func sortEntries(es []entry, key string, desc bool) {
	byName := func(a, b entry) int {
		if c := cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if a.IsDir != b.IsDir {
			if a.IsDir {
				return -1
			}
			return 1
		}
		var c int
		switch key {
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		case "date":
			c = a.ModTime.Compare(b.ModTime)
		}
		if c == 0 {
			c = byName(a, b)
		}
		if desc {
			c = -c
		}
		return c
	})
}

func columns(key string, desc bool) []column {
	cols := []column{{Key: "name", Label: "Name"}, {Key: "size", Label: "Size"}, {Key: "date", Label: "Modified"}}
	for i := range cols {
		c := &cols[i]
		c.Active = c.Key == key
		c.Desc = c.Active && desc
		order := "asc"
		if c.Active && !desc {
			order = "desc"
		}
		c.Href = "?sort=" + c.Key + "&order=" + order
	}
	return cols
}

// Name display: names up to shortName runes are never split; a longer one
// keeps its last tailRunes runes plus its extension whole.
const (
	shortName = 16
	tailRunes = 9
	maxExt    = 10 // longer "extensions" are just part of the name
	wordReach = 6  // how far back the tail may grow to start at a word
)

// splitName cuts name into a head, which may be cut with an ellipsis, and a
// tail, which stays whole: the end of the name with its extension.
func splitName(name string) (head, tail string) {
	r := []rune(name)
	if len(r) <= shortName {
		return name, ""
	}
	n := tailRunes
	if ext := []rune(path.Ext(name)); len(ext) > 1 && len(ext) <= maxExt {
		n += len(ext)
	}
	at := len(r) - min(n, len(r)/2)
	// Start the tail at a word when one starts a little earlier, so it
	// reads "phone screen.mp4" rather than "ne screen.mp4".
	const seps = " _-."
	if strings.ContainsRune(seps, r[at]) {
		at++
	} else {
		for k := 0; k <= wordReach && at-k > len(r)/3; k++ {
			if strings.ContainsRune(seps, r[at-k-1]) {
				at -= k
				break
			}
		}
	}
	return string(r[:at]), string(r[at:])
}

// maxCrumbs is how many breadcrumbs are shown before the middle ones fold
// into one "…": a deep path must not push the folder shown off a phone's
// screen.
const maxCrumbs = 4

func crumbs(abs string) []crumb {
	cs := []crumb{{Name: "Home", Href: "/"}}
	if abs != "/" {
		cur := ""
		for _, part := range strings.Split(strings.Trim(abs, "/"), "/") {
			cur += "/" + part
			cs = append(cs, crumb{Name: part, Href: escapePath(cur + "/"), Title: cur})
		}
	}
	if len(cs) > maxCrumbs {
		// Home, then "…" for the folders between, leading to the last of
		// them, then the parent and the folder shown.
		folded := cs[len(cs)-3]
		folded.Name, folded.Folded = "…", true
		cs = []crumb{cs[0], folded, cs[len(cs)-2], cs[len(cs)-1]}
	}
	cs[len(cs)-1].Current = true
	return cs
}

// escapePath turns a client-visible path into a URL path; every byte a URL
// would read specially (%, ?, #, spaces) is escaped.
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

func dirURL(abs string) string {
	if abs == "/" {
		return "/"
	}
	return abs + "/"
}

func nonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func strconvBase36(n int64) string { return strconv.FormatInt(n, 36) }
