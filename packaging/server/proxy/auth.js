// Bearer-key check for the proxy (nginx njs): `js_set $qwen3vl_authorized auth.authorized`.
//
// The key is read from the file named by QWEN3VL_PROXY_KEY_FILE (a mounted Secret / Docker
// secret) on each request, so a rotated key takes effect without a reload, and never sits in the
// config or the environment. Both sides are hashed (SHA-256) and the digests compared with a
// loop that looks at every byte, so the time taken does not tell how much of a guess was right.
// Any problem (no variable, unreadable or short key file) refuses the request and logs why.

import fs from 'fs';
import crypto from 'crypto';

const MIN_KEY_LENGTH = 16;

function digest(text) {
    return crypto.createHash('sha256').update(text).digest('hex');
}

function expectedDigest(r) {
    const path = process.env.QWEN3VL_PROXY_KEY_FILE;
    if (!path) {
        r.error('QWEN3VL_PROXY_KEY_FILE is not set: every request is refused');
        return null;
    }
    let key;
    try {
        key = fs.readFileSync(path, 'utf8').trim();
    } catch (e) {
        r.error(`cannot read the API key file ${path}: ${e.message}: every request is refused`);
        return null;
    }
    if (key.length < MIN_KEY_LENGTH) {
        r.error(`the API key in ${path} is shorter than ${MIN_KEY_LENGTH} characters: every request is refused`);
        return null;
    }
    return digest('Bearer ' + key);
}

function sameDigest(a, b) {
    let diff = a.length ^ b.length;
    for (let i = 0; i < a.length; i++) {
        diff |= a.charCodeAt(i) ^ b.charCodeAt(i % b.length);
    }
    return diff === 0;
}

function authorized(r) {
    const expected = expectedDigest(r);
    if (expected === null) {
        return '0';
    }
    const presented = digest(r.headersIn.Authorization || '');
    return sameDigest(expected, presented) ? '1' : '0';
}

export default { authorized };
