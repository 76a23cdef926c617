package client

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseMLSx parses one MLSD/MLST line: "fact=value;fact=value; name".
func ParseMLSx(line string) (Entry, bool) {
	facts, name, ok := strings.Cut(line, " ")
	if !ok || name == "" || !strings.Contains(facts, "=") {
		return Entry{}, false
	}
	e := Entry{Name: name, Raw: line, Size: -1}
	for _, f := range strings.Split(facts, ";") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "type":
			switch strings.ToLower(v) {
			case "file":
				e.Type = TypeFile
			case "dir":
				e.Type = TypeDir
			case "cdir", "pdir":
				e.Type = TypeOther
				e.Name = map[string]string{"cdir": ".", "pdir": ".."}[strings.ToLower(v)]
			default:
				if strings.HasPrefix(strings.ToLower(v), "os.unix=symlink") || strings.HasPrefix(strings.ToLower(v), "os.unix=slink") {
					e.Type = TypeLink
				} else {
					e.Type = TypeOther
				}
			}
		case "size":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.Size = n
			}
		case "modify":
			if t, ok := parseFactTime(v); ok {
				e.ModTime = t
			}
		case "perm":
			e.Perm = v
		case "unix.mode":
			if e.Perm == "" {
				e.Perm = v
			}
		}
	}
	if e.Size < 0 {
		e.Size = 0
	}
	return e, true
}

// parseFactTime reads RFC 3659 time-val: YYYYMMDDHHMMSS[.sss], UTC.
func parseFactTime(v string) (time.Time, bool) {
	layout := "20060102150405"
	if i := strings.IndexByte(v, '.'); i >= 0 {
		layout += "." + strings.Repeat("0", len(v)-i-1)
	}
	t, err := time.ParseInLocation(layout, v, time.UTC)
	return t, err == nil
}

var (
	unixLine = regexp.MustCompile(`^([-dlbcps])[-rwxsStTlL]{9}[+.@]?\s+\d+\s+(?:.+?\s+)?(\d+)\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s(.*)$`)
	dosLine  = regexp.MustCompile(`^(\d{2})-(\d{2})-(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s+(<DIR>|\d+)\s+(.+)$`)
)

// ParseListLine parses one LIST line in the Unix "ls -l" form or the
// DOS/IIS form. Lines that are neither ("total 12") are not entries.
func ParseListLine(line string) (Entry, bool) {
	if m := unixLine.FindStringSubmatch(line); m != nil {
		e := Entry{Name: m[6], Raw: line, Perm: line[:10]}
		switch m[1] {
		case "d":
			e.Type = TypeDir
		case "l":
			e.Type = TypeLink
			if name, target, ok := strings.Cut(e.Name, " -> "); ok {
				if name == "" || target == "" {
					// No link has an empty name or target: the line is
					// garbled, and half an entry would name the wrong file.
					return Entry{}, false
				}
				e.Name, e.Target = name, target
			}
		case "-":
			e.Type = TypeFile
		default:
			e.Type = TypeOther
		}
		e.Size, _ = strconv.ParseInt(m[2], 10, 64)
		e.ModTime = unixListTime(m[3], m[4], m[5])
		return e, true
	}
	if m := dosLine.FindStringSubmatch(line); m != nil {
		e := Entry{Name: m[8], Raw: line}
		if m[7] == "<DIR>" {
			e.Type = TypeDir
		} else {
			e.Type = TypeFile
			e.Size, _ = strconv.ParseInt(m[7], 10, 64)
		}
		mon, _ := strconv.Atoi(m[1])
		day, _ := strconv.Atoi(m[2])
		year, _ := strconv.Atoi(m[3])
		if len(m[3]) == 2 {
			year += 1900
			if year < 1970 {
				year += 100
			}
		}
		hour, _ := strconv.Atoi(m[4])
		minute, _ := strconv.Atoi(m[5])
		switch strings.ToUpper(m[6]) {
		case "PM":
			if hour < 12 {
				hour += 12
			}
		case "AM":
			if hour == 12 {
				hour = 0
			}
		}
		e.ModTime = time.Date(year, time.Month(mon), day, hour, minute, 0, 0, time.UTC)
		return e, true
	}
	return Entry{}, false
}

// unixListTime reads "Jan 2 15:04" (within the last six months, year
// implied) or "Jan 2 2006".
func unixListTime(mon, day, tod string) time.Time {
	m, err := time.Parse("Jan", mon)
	if err != nil {
		return time.Time{}
	}
	d, _ := strconv.Atoi(day)
	if strings.Contains(tod, ":") {
		h, _ := strconv.Atoi(tod[:strings.IndexByte(tod, ':')])
		mi, _ := strconv.Atoi(tod[strings.IndexByte(tod, ':')+1:])
		now := time.Now().UTC()
		t := time.Date(now.Year(), m.Month(), d, h, mi, 0, 0, time.UTC)
		if t.After(now.Add(24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
		return t
	}
	y, _ := strconv.Atoi(tod)
	return time.Date(y, m.Month(), d, 0, 0, 0, 0, time.UTC)
}
