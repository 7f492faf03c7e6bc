export default function Page() { return 'web'; }
