// What the README snippets (readme-*.ts, readme/*.js) take as given. No import or
// export: these are globals, seen by every file; a file's own declarations shadow them.
declare const ranker: import('privrank').Ranker;
declare const candidates: import('privrank').Candidate[];
