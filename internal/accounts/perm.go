package accounts

import (
	"fmt"
	"path"
	"strings"
)

// permNames lists the permission names the admin types, in display order.
var permNames = [...]struct {
	name string
	perm Perm
}{
	{"list", PermList},
	{"download", PermDownload},
	{"upload", PermUpload},
	{"overwrite", PermOverwrite},
	{"append", PermAppend},
	{"delete", PermDelete},
	{"rename", PermRename},
	{"mkdir", PermMkdir},
	{"rmdir", PermRmdir},
	{"settime", PermSetTime},
}

// String names p as a preset (full, read-only, upload-only, none) when it is
// exactly one, or as the comma-separated list ParsePerm reads back.
func (p Perm) String() string {
	switch p {
	case PresetFull:
		return "full"
	case PresetReadOnly:
		return "read-only"
	case PresetUploadOnly:
		return "upload-only"
	case PermNone:
		return "none"
	}
	var names []string
	for _, n := range permNames {
		if p.Has(n.perm) {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// ParsePerm reads a preset name (full, read-only, upload-only, none) or a
// comma-separated list of permission names.
func ParsePerm(s string) (Perm, error) {
	switch strings.TrimSpace(strings.ToLower(s)) {
	case "full":
		return PresetFull, nil
	case "read-only", "readonly":
		return PresetReadOnly, nil
	case "upload-only", "uploadonly":
		return PresetUploadOnly, nil
	case "none":
		return PermNone, nil
	}
	var p Perm
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		found := false
		for _, n := range permNames {
			if n.name == f {
				p |= n.perm
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown permission %q (want full, read-only, upload-only or a list of: %s)", f, allPermNames())
		}
	}
	return p, nil
}

func allPermNames() string {
	names := make([]string, len(permNames))
	for i, n := range permNames {
		names[i] = n.name
	}
	return strings.Join(names, ",")
}

// PathPerm overrides a user's permissions in one folder of their home and
// everything below it. Dir is a client-visible absolute path ("/incoming").
type PathPerm struct {
	Dir   string `json:"dir"`
	Perms Perm   `json:"perms"`
}

// PermsFor returns the permissions that apply to the client-visible absolute
// path p (as vfs.Resolve returns it): those of the deepest PathPerms folder
// that is p or holds p, else Perms. The engine checks the target path of an
// operation (for STOR the file, for MKD the new folder, for LIST the folder
// listed), so an upload-only "/incoming" accepts files but cannot be listed.
func (u User) PermsFor(p string) Perm {
	p = path.Clean("/" + p)
	best, bestLen := u.Perms, -1
	for _, pp := range u.PathPerms {
		d := path.Clean("/" + pp.Dir)
		if (p == d || d == "/" || strings.HasPrefix(p, d+"/")) && len(d) > bestLen {
			best, bestLen = pp.Perms, len(d)
		}
	}
	return best
}

// MarshalText writes p as String does, so exports stay readable.
func (p Perm) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what ParsePerm reads.
func (p *Perm) UnmarshalText(b []byte) error {
	v, err := ParsePerm(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
