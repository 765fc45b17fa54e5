import { Command } from 'commander';
import { BRANDING_FIELDS } from '../../admin/branding.ts';
import type { BrandingView } from '../../admin/branding-service.ts';
import { LIMITS } from '../../config/limits.ts';
import { cliActor, fields, output, readTessera, withCommon, withTessera, type GlobalOptions } from '../context.ts';
import { readLogo } from '../logo-file.ts';
import { CliUsageError } from './clients.ts';

/**
 * `tessera branding get|set|logo|remove-logo`: the brand of the pages (the admin API's
 * /branding and the console's Branding page). Contrast warnings go to stderr (and are in
 * the --json answer); they do not fail the command.
 */
export function brandingCommand(): Command {
  const branding = new Command('branding').description('the brand of the sign-in, consent and account pages: name, logo, colours, links');

  withCommon(branding.command('get').description('print the brand, or one field of it').argument('[name]', 'a field, e.g. primary_color')).action(
    async (name: string | undefined, f: GlobalOptions) => {
      await readTessera(f, async (t) => {
        const view = t.services.branding.view();
        if (name === undefined) return show(f, view);
        if (!Object.hasOwn(view, name)) throw new CliUsageError(`unknown branding field "${name.slice(0, 64)}"; the fields are ${Object.keys(view).join(', ')}`);
        const value = view[name as keyof BrandingView];
        output(f, { [name]: value }, () => (value === null ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)));
      });
    },
  );

  withCommon(
    branding
      .command('set')
      .description('change one field; every node shows it on the next page')
      .argument('<name>', BRANDING_FIELDS.join(', '))
      .argument('<value>', '"none" clears logo_url, terms_url or privacy_url; true or false for allow_remote_app_logos'),
  ).action(async (name: string, value: string, f: GlobalOptions) => {
    if (!(BRANDING_FIELDS as readonly string[]).includes(name)) throw new CliUsageError(`unknown branding field "${name.slice(0, 64)}"; the fields are ${BRANDING_FIELDS.join(', ')}`);
    const parsed = name === 'allow_remote_app_logos' ? booleanOf(value) : value === 'none' && name !== 'product_name' ? null : value;
    await withTessera(f, async (t) => show(f, await t.services.branding.update({ [name]: parsed }, cliActor())));
  });

  withCommon(
    branding
      .command('logo')
      .description(`upload the logo: PNG, JPEG, WebP, GIF or SVG (safe subset, docs/branding.md), at most ${LIMITS.logoBytes.max} bytes`)
      .argument('<file>', 'the image file')
      .option('--type <content-type>', 'its type, when the file name does not say (the bytes must agree)'),
  ).action(async (file: string, f: GlobalOptions & { type?: string }) => {
    const logo = await readLogo(file, f.type);
    if ('problem' in logo) throw new CliUsageError(logo.problem);
    const { data, type } = logo;
    await withTessera(f, async (t) => show(f, await t.services.branding.setLogo(data, type, cliActor())));
  });

  withCommon(branding.command('remove-logo').description('remove the uploaded logo')).action(async (f: GlobalOptions) => {
    await withTessera(f, async (t) => show(f, await t.services.branding.removeLogo(cliActor())));
  });

  return branding;
}

function booleanOf(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new CliUsageError('allow_remote_app_logos is true or false');
}

function show(f: GlobalOptions, view: BrandingView): void {
  output(f, view, (v) =>
    fields(
      Object.entries(v)
        .filter(([k]) => k !== 'warnings')
        .map(([k, value]) => [k, k === 'logo' ? (v.logo ? `${v.logo.url} (${v.logo.content_type})` : null) : value]),
    ),
  );
  if (!f.json) for (const warning of view.warnings) process.stderr.write(`tessera: warning: ${warning}\n`);
}
