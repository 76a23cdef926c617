package ftpproto

// Reply codes, named after their meaning in RFC 959 section 4.2 unless
// another RFC is given.
const (
	CodeRestartMarker     = 110
	CodeDataAlreadyOpen   = 125
	CodeFileStatusOK      = 150 // about to open the data connection
	CodeOK                = 200
	CodeNotImplementedOK  = 202 // superfluous command (ALLO)
	CodeSystemStatus      = 211
	CodeDirStatus         = 212
	CodeFileStatus        = 213
	CodeHelp              = 214
	CodeSystemType        = 215
	CodeReady             = 220
	CodeClosing           = 221
	CodeDataOpen          = 225
	CodeClosingData       = 226
	CodePassive           = 227
	CodeLongPassive       = 228 // RFC 1639
	CodeExtendedPassive   = 229 // RFC 2428
	CodeLoggedIn          = 230
	CodeAuthOK            = 234 // RFC 2228
	CodeFileActionOK      = 250
	CodeCreated           = 257
	CodeNeedPassword      = 331
	CodeNeedAccount       = 332
	CodePending           = 350
	CodeUnavailable       = 421
	CodeCantOpenData      = 425
	CodeTransferAborted   = 426
	CodeFileBusy          = 450
	CodeLocalError        = 451
	CodeInsufficientSpace = 452
	CodeSyntaxError       = 500
	CodeArgSyntaxError    = 501
	CodeNotImplemented    = 502
	CodeBadSequence       = 503
	CodeParamNotImpl      = 504
	CodeBadProtocol       = 522 // RFC 2428: network protocol not supported
	CodeNotLoggedIn       = 530
	CodeNeedAcctForStore  = 532
	CodePolicyDenied      = 534 // RFC 2228
	CodeProtNotSupported  = 536 // RFC 2228
	CodeFileUnavailable   = 550
	CodePageTypeUnknown   = 551
	CodeExceededStorage   = 552
	CodeBadFileName       = 553
	CodeBadRestart        = 554 // RFC 3659: invalid REST parameter
)
