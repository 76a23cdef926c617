package admin

import (
	"embed"
	"net/http"
	"path"
)

// The page and its assets are embedded: the admin works without internet
// and loads nothing from anywhere but this listener.
//
//go:embed assets/page.html assets/app.js assets/style.css assets/icon.svg
var assets embed.FS

// pageCSP allows only this origin's own script, style and images: an
// injected name or path in the page could run nothing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

func (h *Handler) pageRoutes() {
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.asset(w, "page.html") })
	h.mux.HandleFunc("GET /assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		f := r.PathValue("file")
		if f == "page.html" {
			http.NotFound(w, r)
			return
		}
		h.asset(w, f)
	})
}

func (h *Handler) asset(w http.ResponseWriter, name string) {
	b, err := assets.ReadFile("assets/" + name)
	ct, known := assetTypes[path.Ext(name)]
	if err != nil || !known {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", pageCSP)
	// The page changes with the binary only; a reload after an upgrade
	// must not mix old script with a new API.
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}
