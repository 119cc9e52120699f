// Remote access for consultants: the standard wg-quick client config (and a
// QR code of it) that the stock WireGuard apps import. The client's private
// key appears in it only when ternctl has just made the key: the box keeps
// no client private key (docs/ternctl.md, "Remote access and secrets").
import QRCode from 'qrcode';
import type { RemoteUser, TernConfig } from '../config/index.js';
import { TernError } from '../errors.js';

export interface ClientConfigInput {
  user: RemoteUser;
  /**
   * The client's private key (secret), given only when it was made just
   * now; without it the config is a template with the line commented out.
   */
  clientPrivateKey?: string;
  /** The appliance's public key. */
  serverPublicKey: string;
  /** host:port the client dials. */
  endpoint: string;
  presharedKey?: string;
  keepaliveSec?: number;
}

/** The wg-quick config text for one user. */
export function clientConfig(inp: ClientConfigInput): string {
  const u = inp.user;
  const lines = [
    `# Tern remote access for ${u.name}. Import into the WireGuard app, or: wg-quick up ./${u.name}.conf`,
    '[Interface]',
    inp.clientPrivateKey
      ? `PrivateKey = ${inp.clientPrivateKey}`
      : '# PrivateKey = (the key ternctl ra add or ra rekey printed once; this box does not keep it)',
    `Address = ${u.address}`,
    ...(u.dns && u.dns.length ? [`DNS = ${u.dns.join(', ')}`] : []),
    '',
    '[Peer]',
    `PublicKey = ${inp.serverPublicKey}`,
    ...(inp.presharedKey
      ? [`PresharedKey = ${inp.presharedKey}`]
      : u.presharedKeyFile && !inp.clientPrivateKey ? ['# PresharedKey = (the one in the box\'s presharedKeyFile; hand it over apart from this file)'] : []),
    `Endpoint = ${inp.endpoint}`,
    `AllowedIPs = ${u.allowedPrefixes.join(', ')}`,
    `PersistentKeepalive = ${inp.keepaliveSec ?? 25}`,
    '',
  ];
  return lines.join('\n');
}

/** The config as a QR code for a terminal (UTF-8 half blocks). */
export function clientQr(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}

/**
 * Where remote users dial: the first WAN's public host (or its address),
 * on overlay.remoteUserPort.
 */
export function remoteAccessEndpoint(cfg: TernConfig): string {
  const wan = cfg.wans[0];
  const host = wan?.publicHost ?? wan?.address?.split('/')[0];
  if (!host) {
    throw new TernError('TERN_E_TUNNEL_REMOTE_ACCESS',
      'remote access: endpoint: no WAN has an address or publicHost to give clients; set wans[0].publicHost');
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return `${h}:${cfg.overlay.remoteUserPort}`;
}
