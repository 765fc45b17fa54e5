import type { ReactNode } from 'react';
import { CopyValue } from '../ui.tsx';

/** The client ID and a secret, shown once after registration or regeneration. */
export function SecretReveal({ clientId, secret, title, children, signs }: { clientId: string; secret?: string; title: string; children?: ReactNode; signs?: boolean }) {
  return (
    <section className="panel panel--success" aria-labelledby="secret-title">
      <h2 id="secret-title">{title}</h2>
      <CopyValue label="Client ID" value={clientId} testId="client-id" />
      {secret ? (
        <>
          <CopyValue label="Client secret" value={secret} testId="client-secret" />
          <p className="warning" role="note">
            <strong>Copy the secret now: you will not see this secret again.</strong> Tessera keeps only a hash of it. If it is lost, regenerate it.
          </p>
        </>
      ) : (
        <p className="hint">{signs ? 'This app has no secret: it proves itself with a JWT signed by its private key (private_key_jwt).' : 'This is a public app: it has no secret and proves itself with PKCE.'}</p>
      )}
      {children}
    </section>
  );
}
