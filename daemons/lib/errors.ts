// Package errors holds every Tern error code in one place, each with the
// sentence that documents it. docs/errors.md lists the same codes; a test
// (errors.test.ts) keeps the two in sync.

/**
 * Every error code Tern emits, with its documentation. Add a code here and a
 * row in docs/errors.md in the same change.
 */
export const errorCodes = {
  // config
  TERN_E_CONFIG_READ: 'the configuration file could not be read (missing, unreadable, not a regular file, over 1 MiB, not UTF-8); refused before any of it is read',
  TERN_E_CONFIG_PARSE: 'the configuration file is not valid YAML, or is YAML a config cannot be (a second document, nesting past 32 levels, a dangling, cyclic or exploding alias); the message gives line and column',
  TERN_E_CONFIG_KEY: 'a configuration key is missing, unknown or has a value of the wrong type or range; the message names the key path and line and says what was expected',
  TERN_E_CONFIG_SEMANTIC: 'the configuration is well-formed but inconsistent (duplicate ids, overlapping prefixes, references to things that do not exist, addresses, ports and MTUs that would break the box); the message names the key path and line',

  // bus (JSON-RPC 2.0 over Unix sockets)
  TERN_E_BUS_PARSE: 'a bus message was not valid JSON (JSON-RPC -32700)',
  TERN_E_BUS_INVALID_REQUEST: 'a bus message was JSON but not a valid JSON-RPC 2.0 request (JSON-RPC -32600)',
  TERN_E_BUS_METHOD_NOT_FOUND: 'a bus request named a method the daemon does not serve (JSON-RPC -32601)',
  TERN_E_BUS_INVALID_PARAMS: 'a bus request had parameters of the wrong shape (JSON-RPC -32602); for a method with a contract (daemons/lib/api) the message names the field (JSON pointer) and what was expected',
  TERN_E_BUS_INTERNAL: 'a bus method handler failed unexpectedly (JSON-RPC -32603)',
  TERN_E_BUS_TOO_LARGE: 'a bus message exceeded the maximum message size; the connection is closed',
  TERN_E_BUS_INCOMPLETE: 'a bus client began a message and did not finish it (no newline) within the time allowed; the connection is closed (JSON-RPC -32002)',
  TERN_E_BUS_BUSY: 'the daemon is at a bus limit (connections per socket, or memory held for unfinished messages across connections); the connection is refused or closed, retry later (JSON-RPC -32003)',
  TERN_E_BUS_TIMEOUT: 'a bus request got no reply within its timeout',
  TERN_E_BUS_CLOSED: 'the bus connection closed before the reply arrived',
  TERN_E_BUS_CONNECT: 'the bus socket could not be reached (daemon not running, or no permission)',
  TERN_E_BUS_LISTEN: 'the bus socket could not be bound (another instance running, or bad runtime directory)',
  TERN_E_BUS_CONTRACT: 'a bus result or notification did not match its contract (daemons/lib/api): refused at the boundary; the message names the method or topic, the field (JSON pointer) and what was expected',
  TERN_E_BUS_USAGE: 'Tern code used the bus library wrongly (invalid option, method registered twice or under a reserved rpc. name, bad topic name, unserializable value)',

  // store (SQLite)
  TERN_E_STORE_OPEN: 'the state database could not be opened or set to WAL mode',
  TERN_E_STORE_MIGRATION: 'a schema migration of the state database failed; the database stays at its previous version',
  TERN_E_STORE_QUERY: 'a query against the state database failed',
  TERN_E_STORE_VERSION: 'the state database was written by a newer Tern (schema version above what this build knows)',

  // native module
  TERN_E_NATIVE_LOAD: 'the native module (tern.node) could not be loaded or is of the wrong version',
  TERN_E_NATIVE_PANIC: 'Rust code in the native module panicked; the panic was caught and turned into this error',
  TERN_E_NATIVE_ARG: 'a native function was called with an argument of the wrong type',
  TERN_E_NATIVE_IO: 'a system call made by the native module failed; the message carries errno',

  // daemon runner and runtime paths
  TERN_E_RUNNER_START: 'a daemon failed to start (config, bus or state could not be set up)',
  TERN_E_RUNNER_RELOAD: 'a SIGHUP reload failed; the daemon keeps running with its previous configuration',
  TERN_E_PATHS: 'a runtime directory (/etc/tern, /run/tern, /var/lib/tern or its override) is missing or unusable',
  TERN_E_PATHS_NAME: "a name that becomes part of a file name (remote user, daemon, lab) is not a plain word (lowercase letters, digits, '-' and '_', at most 32 characters) or would leave its directory; nothing was written",

  // tunneld
  TERN_E_TUNNEL_REMOTE_ACCESS: 'a remote-access client config cannot be issued: the user is revoked, or no WAN has an address or publicHost to give clients',
  TERN_E_TUNNEL_ENDPOINT: 'a remote WAN endpoint host name does not resolve; the tunnels already up are left as they are',
  TERN_E_TUNNEL_WAN: 'a WAN named in the config has no interface on this box; its tunnels are not built',
  TERN_E_TUNNEL_RECONCILE: 'applying the overlay to the kernel failed part-way; what was up stays up and the next pass retries',

  // lab (test/lab)
  TERN_E_LAB_TOPOLOGY: 'a lab topology description is invalid (unknown node, duplicate name, bad address)',
  TERN_E_LAB_COMMAND: 'a command run by the lab (ip, nft, tc) failed; the message carries the command and its stderr',
  TERN_E_LAB_IMPAIR: 'an impairment request names an unknown link or an out-of-range value',
  TERN_E_LAB_STATE: 'a lab run could not be found or its state.json read (wrong prefix or run directory, lab already removed)',

  // kernel (rtnetlink, WireGuard)
  TERN_E_KERNEL_ARG: 'a kernel operation was asked with an invalid argument (malformed address, prefix or endpoint, table or priority out of range, interface name longer than 15 bytes, malformed key); nothing was sent to the kernel',
  TERN_E_KERNEL_NETLINK: 'a netlink request failed or its reply could not be read; the message names the operation, the object and the kernel errno name (EEXIST, ENODEV, EPERM...)',
  TERN_E_KERNEL_WG_BACKEND: 'the WireGuard backend could not be chosen, or could not create, find or remove an interface (no kernel WireGuard and no wireguard-go, wireguard-go failed to start or stop, interface name in use)',
  TERN_E_KEY_FILE: 'a key file (the site\'s WireGuard private key, a preshared key) is missing, unreadable, not a regular file, readable by others (want mode 600) or does not hold a key; the message names the file and the daemon, never the key',
  TERN_E_KERNEL_WG_UAPI: 'the wireguard-go UAPI socket could not be reached, timed out, or sent a malformed reply or a non-zero errno; the message names the interface',

  // probed
  TERN_E_PROBE_ARG: 'a probed component was given an option or value out of range (probe rate, timeouts, window, thresholds, rate limits, a history sample or query); nothing was changed; the message names the value and says what was expected',
  TERN_E_PROBE_SOCKET: 'a probe socket could not be opened or used: the reflector port is taken, a path socket is not open (its interface is missing), an ICMP socket could not be bound to its WAN (address, mark, device, permission)',

  // paird
  TERN_E_PAIRD_ARG: 'paird code was given a value out of range (advert fields, VRRP timers or priorities, tracked item, MAC or address of the wrong family); nothing was sent',
  TERN_E_PAIRD_SOCKET: 'the VRRP or packet socket of the pair interface could not be opened or used (interface missing, no CAP_NET_RAW, no address to send adverts from, the kernel refused a send); the message names the interface and the errno',
  TERN_E_PAIRD_VIP: 'a VIP or the virtual-MAC interface could not be put on or taken off the pair interface; the message names the device and the kernel error; the next transition retries',

  // ternctl
  TERN_E_CTL_USAGE: 'ternctl was called wrongly (unknown command or option, missing argument, bad time range or value); the message has a hint; exit code 2',
  TERN_E_CTL_DAEMON: 'a daemon ternctl needs is not running or not responding within the timeout; exit code 3',
  TERN_E_CTL_PERMISSION: 'ternctl may not read a socket, file or the state database it needs (run as root or join group tern); exit code 4',
  TERN_E_CTL_NOT_FOUND: 'a name given to ternctl (remote user, site, path, config version) does not exist',
  TERN_E_CTL_APPLY: 'a configuration apply, confirm or rollback could not be done (another apply pending, nothing pending, a daemon refused the new configuration and it was rolled back, the file could not be written)',
  TERN_E_CTL_REPORT: 'a loss report or diagnostics bundle could not be made (no history for the subject and range, history unreadable, output file not writable)',
  TERN_E_CTL_EXPORTER: 'the metrics exporter could not listen on its address (in use, bad address, permission)',

  // qosd
  TERN_E_QOS_KERNEL: 'applying a WAN\'s shaping in the kernel failed; the WAN keeps its previous shaping (or stays unshaped if it had none); the message names the WAN, the device and the kernel errno',
  TERN_E_QOS_WAN: 'a WAN QoS shapes has no interface on this box, or the name of its IFB (tqi-<wan>) is taken by another kind of link; the WAN stays unshaped until that is fixed',
  TERN_E_QOS_CAPABILITY: 'the kernel offers no shaper qosd can use (neither cake nor htb); no WAN is shaped',
  TERN_E_QOS_INPUT: 'qosd was given a malformed fact or value (a probed wan.metrics notification, a qos.* request, an autorate setting out of range); it is ignored and nothing changes',

  // steerd
  TERN_E_STEER_INPUT: 'the path selector was given an invalid policy, path list, flow record or time; nothing was changed; the message names the key or record and says what was expected',
  TERN_E_STEER_RULES: 'steerd could not put its kernel rules in place (nft ruleset, the iptables-nft TERN-STEER chain, path-mark policy rules); the message names the tool and its error; traffic the rules miss follows the main table',
  TERN_E_STEER_QUEUE: 'steerd could not bind its NFQUEUE queues (another process holds them, or no CAP_NET_ADMIN); nothing is steered and traffic follows the main table',

  // edged: LAN services (dnsmasq)
  TERN_E_LAN_CONFIG: 'a lan.dhcp, lan.dns or domain value cannot be written into dnsmasq\'s config (a character dnsmasq treats specially, a *.domain form its nftset cannot express); nothing was changed and the running dnsmasq keeps its config; the message names the key',
  TERN_E_LAN_DNSMASQ: 'dnsmasq (DHCP and DNS for the LAN) could not be started, or exited before it was ready; the message has its own words (address in use, no such interface); it is restarted with backoff',
  TERN_E_LAN_NFT: 'the DNS intercept chain (edge_dns_intercept in inet tern) or a domain set could not be loaded or read; the message names nft\'s error; DHCP and DNS keep running',
  // edged
  TERN_E_EDGE_RULES: 'edged could not put its nftables rules in place (zone firewall, NAT, port forwards, peer sets) or read them back; the message names the step and nft\'s error; the rules the kernel had before stay in place',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Options for TernError beyond code and message. */
export interface TernErrorOptions {
  /** The lower-level error this one wraps. */
  cause?: unknown;
  /** Structured facts for logs and --json output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The error type every Tern component throws for expected failures. The
 * message starts with `component: action:` and says what was expected.
 */
export class TernError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: TernErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TernError';
    this.code = code;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** True when err is a TernError, optionally of the given code. */
export function isTernError(err: unknown, code?: ErrorCode): err is TernError {
  return err instanceof TernError && (code === undefined || err.code === code);
}

/** The message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** True when err is about file or socket permissions (errno EACCES/EPERM anywhere in its chain). */
export function isPermissionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'TERN_E_CTL_PERMISSION') return true;
    const errno = (e as TernError).details?.errno;
    if (errno === 'EACCES' || errno === 'EPERM') return true;
  }
  return false;
}

/**
 * A permission error for a path, saying what to do. Its code makes ternctl
 * exit 4; the exporter and the config transaction report it the same way.
 */
export function permissionError(what: string, file: string, cause?: unknown): TernError {
  return new TernError('TERN_E_CTL_PERMISSION',
    `ternctl: ${what}: permission denied on ${file}: run as root or join group tern`, { cause, details: { file, errno: 'EACCES' } });
}
