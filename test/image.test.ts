// The appliance image (issue 9): builds the amd64 image from image/ with
// mmdebstrap and boots it in QEMU (TCG, OVMF) with the tern.smoke
// credential; the smoke unit inside checks the booted box (read-only root,
// data partition, first-boot identity and key, tern.target and every daemon
// active, `ternctl status`, a killed daemon restarted, a hung one restarted
// by the watchdog, each daemon as its own user with only its unit's
// capabilities, the keys hidden from all but tunneld) and powers off. Each smoke check is an assertion here.
// The serial log stays in .test-out/image/serial.log, the build's output in
// .test-out/image/build.log.
//
// Slow by nature: minutes of build, then a boot under software emulation.
// TERN_IMAGE_SKIP_BUILD=1 boots the image already in image/out/amd64.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { repoRoot } from './lab/index.js';

// Longer than the suite's 600 s per file: a build and a boot under emulation.
t.setTimeout(60 * 60_000);

const out = path.join(repoRoot, '.test-out', 'image');
const image = path.join(repoRoot, 'image', 'out', 'amd64', 'tern-amd64.img');
fs.mkdirSync(out, { recursive: true });

/** Run a command to completion, its output teed into file; resolves with its exit code and output. */
function run(cmd: string, args: string[], file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const log = fs.createWriteStream(file);
    // Without the test runner's Node hooks: node also runs inside the image's root.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP_.*|_TAPJS_.*)$/.test(k)));
    const p = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer): void => { output += d.toString(); log.write(d); };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('close', (code, signal) => { log.end(); resolve({ code: code ?? (signal ? 128 : 1), output }); });
  });
}

t.test('make image ARCH=amd64: builds, with its build time and size', { timeout: 40 * 60_000 }, async (t) => {
  if (process.env.TERN_IMAGE_SKIP_BUILD === '1') {
    t.ok(fs.existsSync(image), `TERN_IMAGE_SKIP_BUILD=1: want an image at ${image}`);
    return;
  }
  const started = Date.now();
  const { code, output } = await run('bash', ['image/build.sh', 'amd64'], path.join(out, 'build.log'));
  t.equal(code, 0, `image/build.sh amd64 exits 0 (output in .test-out/image/build.log)${code ? `; last lines:\n${output.trim().split('\n').slice(-15).join('\n')}` : ''}`);
  const built = /built (\S+) in (\d+) s \(([^)]*)\)/.exec(output);
  const size = /size: (disk [^\n]*)/.exec(output);
  t.ok(built, 'the build reports its time');
  t.ok(size, 'the build reports the image size');
  t.comment(`build: ${built ? `${built[2]} s (${built[3]})` : '?'}, wall ${Math.round((Date.now() - started) / 1000)} s`);
  t.comment(`size: ${size ? size[1] : '?'}`);
  t.ok(fs.existsSync(image), `the image is at ${path.relative(repoRoot, image)}`);
});

t.test('the image boots in QEMU and passes its smoke test', { timeout: 40 * 60_000 }, async (t) => {
  if (!fs.existsSync(image)) {
    t.fail(`no image at ${image}: the build failed`);
    return;
  }
  const { code, output } = await run('bash', ['test/image/boot.sh', image], path.join(out, 'boot.log'));
  // boot.sh prints each smoke line indented: "  <check>: ok (...)" or "  <check>: FAIL ...".
  const checks = [...output.matchAll(/^ {2}([^|:][^:\n]*): (ok|FAIL)(.*)$/gm)];
  const want = ['root', 'mount /data', 'mount /etc/tern', 'mount /var/lib/tern', 'machine-id', 'overlay key', 'config',
    'kernel wireguard', 'tern.target', 'tern-tunneld', 'tern-probed', 'tern-steerd', 'tern-paird', 'tern-qosd', 'tern-edged', 'tern-exporter',
    'config rollback at boot', 'paird sysctls', 'conntrack accounting', 'lan address', 'wan dhcp', 'networkd keeps rules',
    'ternctl status', 'restart after SIGKILL', 'watchdog restart',
    // Least privilege (issue 15).
    ...['tunneld', 'probed', 'steerd', 'paird', 'qosd', 'edged', 'exporter'].map((d) => `privileges tern-${d}.service`),
    'keys hidden', 'state database', 'limits', 'exposure'];
  for (const name of want) {
    const c = checks.find((m) => m[1] === name);
    t.ok(c && c[2] === 'ok', `smoke: ${name}: ${c ? `${c[2]}${c[3]}` : 'never reported'}`);
  }
  t.match(output, /^ {2}RESULT PASS$/m, 'smoke: RESULT PASS');
  t.equal(code, 0, 'test/image/boot.sh exits 0');
  const pass = /PASS in (\d+) s from power-on to power-off, QEMU used (\d+) s of CPU \(systemd: (.*)\)$/m.exec(output);
  const times = /^ {2}times: (.*)$/m.exec(output);
  for (const m of output.matchAll(/^ {2}(usage \S+: .*)$/gm)) t.comment(m[1]!);
  t.comment(`boot: ${pass ? `${pass[1]} s power-on to power-off, ${pass[2]} s of CPU; systemd: ${pass[3]}` : 'no PASS line'}`);
  if (times) t.comment(`smoke timeline (s since boot): ${times[1]}`);
  t.ok(fs.statSync(path.join(out, 'serial.log')).size > 0, 'the serial log is kept in .test-out/image/serial.log');
});
