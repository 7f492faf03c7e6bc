export default function Home() {
  return <main>storefront</main>;
}
