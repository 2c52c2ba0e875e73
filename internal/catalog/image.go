package catalog

import "fmt"

// Image names what one built image is called.
type Image struct {
	Repository string // "kubelet"
	Tag        string // "v1.37.2-trixie"
}

// Ref is the image's name as written into layouts and archives: "kubelet:v1.37.2-trixie".
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// KubeletImage names the kubelet image of a version. base names the userland distribution and
// release ("trixie"), in the style of the original project's "v1.21.1-alpine3.13".
func KubeletImage(v Version, base string) Image {
	return Image{Repository: "kubelet", Tag: fmt.Sprintf("%s-%s", v, base)}
}
