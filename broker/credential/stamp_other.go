//go:build !unix

package credential

import "io/fs"

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{size: fi.Size(), mtime: fi.ModTime()} }
