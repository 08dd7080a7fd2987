//go:build !unix

package export

// oNoFollow is 0 where open has no O_NOFOLLOW.
const oNoFollow = 0

func isSymlinkRefusal(error) bool { return false }
